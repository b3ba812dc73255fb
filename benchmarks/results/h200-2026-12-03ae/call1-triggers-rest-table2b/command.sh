# Thirty-second session, call A (~560 s warm): the 8-bit GEMVs' other PDL triggers (gate/up, down, the attention;
# thirty-first session's call2-triggers-rest plan), then every 2b recipe at batch 1 and 16 in one bench_speed run
# with the default the thirty-first session shipped (q/k/v early for int8 / fp8 weights), so the bars judge one run.
. benchmarks/device_call.sh
timeout 210 python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b \
    --recipes int8_wo,smoothquant,fp8 --batch-sizes 1,16 --rounds 3 \
    --variants 'measured;measured,gate_up:int8,gate_up:fp8;measured,down:int8,down:fp8;measured,attention' 2>&1 \
    | grep -v "$F" | tail -30 > $R/ab2b.log
echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/ab2b.log $R/speed2b.log
