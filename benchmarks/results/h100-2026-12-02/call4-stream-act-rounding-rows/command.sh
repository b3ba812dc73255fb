# Thirtieth session, call 4: (1) does a GEMV's activation traffic (16 bytes a word, L1-resident, shared by a program's
# rows) pull the 7b gate/up's int4 stream (~20 us with 32 dependent operations a word, call 3) towards the int4
# GEMVs' ~29 us? bench_weight_stream.py --act 0,1 at the shipped int4 tile's load shape (8 rows, 1 warp, 512 bytes a
# row a load) and the stream's best (16 rows, 4 warps). (2) The twenty-seventh session's planned call: RoPE's bf16
# roundings in hardware (VLMQ_ATTENTION_PLAN=rounding=1) A/B'd on the BF16 steps, then the 2b bf16 / int4 rows.
tar -xJf build/packed/libs.tar.xz -C build  # main's library (build/variants/main.so), packed
export VLMQ_CUTLASS_LIB=$PWD/build/variants/main.so
. benchmarks/device_call.sh
timeout 90 python3 benchmarks/bench_weight_stream.py --out $R/stream --rows 8,16 --words 64,128 --warps 1,4 \
    --stages 1 --ops 0,32 --act 0,1 --matrices "7b gate_up int4" 2>&1 | grep -v "$F" > $R/stream.log
echo "stream rc ${PIPESTATUS[0]} at $(since) s" >> $R/stream.log
bf16_ab ab2b qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN 'default;rounding=1' 110
bf16_ab ab7b qwen2-vl-7b 1 VLMQ_ATTENTION_PLAN 'default;rounding=1' 80
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 12 )) 2>&1 | grep -v "$F" | tail -10 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
tail -34 $R/stream.log; cat $R/ab2b/ab.md $R/ab7b/ab.md $R/ab2b.log $R/ab7b.log $R/speed2b.log
