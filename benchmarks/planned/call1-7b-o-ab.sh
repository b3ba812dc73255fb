# Planned by the thirty-fourth session (~200 s warm): the 7b int4_wo batch-16 step with the twenty-eighth session's
# 7b o_proj 16-row w4_mma entry added to the shipped table (tiles-w4mma-7b-o.json beside this file: the shipped table,
# which holds the 2b o entry the thirty-fourth session adopted, plus that one). The 2b o entry alone made the 2b
# batch-16 step 0.963x; the 7b batch-16 "4-bit faster than fp8" bar is a tie (0.992, 0.979-1.006).
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes int4_wo \
    --batch-sizes 16 --env VLMQ_TILES --rounds 3 \
    --variants "src/vlmq/engine/kernels/tiles/h200.json;benchmarks/planned/tiles-w4mma-7b-o.json" \
    2>&1 | grep -v "$F" | tail -12 > $R/ab7b.log
echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
finish_call
cat $R/ab7b.log
