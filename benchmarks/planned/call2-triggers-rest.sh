# Planned by the thirty-first session (~150 s warm): the PDL triggers of the 8-bit GEMVs it did not measure. q/k/v
# early made every 8-bit 2b step 2-9 % faster (now the default) and o early nothing; gate/up, down and the attention
# triggering early were measured only for BF16 and int4_wo (sixteenth session: level or slower). One process a
# recipe, 3 interleaved rounds, against the default.
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b \
    --recipes int8_wo,smoothquant,fp8 --batch-sizes 1,16 --rounds 3 \
    --variants 'measured;measured,gate_up:int8,gate_up:fp8;measured,down:int8,down:fp8;measured,attention' 2>&1 \
    | grep -v "$F" | tail -30 > $R/ab2b.log
echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
finish_call
cat $R/ab2b.log
