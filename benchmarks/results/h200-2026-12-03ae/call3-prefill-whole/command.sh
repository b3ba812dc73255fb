# Thirty-second session, call C (~450 s warm): $VLMQ_PREFILL_PREPARE=whole, a candidate (every weight-only weight's
# bf16 copy one layer ahead on a side stream, so each prefill GEMM is cuBLAS BF16's; the 7b int4 / int8 TTFT sat at
# 1.20x / 1.18x BF16's, CUTLASS's mixed-input gate/up and down the gap): its GPU tests (bit-for-bit against the
# dequantize route; the toy's answers through the compiled engine off / side / whole), then the 7b first token A/B
# (side against whole, one process a recipe, 3 interleaved rounds), then bench_speed under it (memory with TTFT).
. benchmarks/device_call.sh
timeout 170 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_prefill_prepare_gpu.py 2>&1 \
    | grep -v "$F" | tail -15 > $R/tests.log
echo "tests rc ${PIPESTATUS[0]} at $(since) s" >> $R/tests.log
timeout 200 python3 benchmarks/bench_decode_ab.py --out $R/ttft --model qwen2-vl-7b --recipes int4_wo,int8_wo \
    --batch-sizes 1 --env VLMQ_PREFILL_PREPARE --variants 'side;whole' --rebuild --ttft --rounds 3 --new-tokens 16 \
    2>&1 | grep -v "$F" | tail -20 > $R/ttft.log; echo "ttft rc ${PIPESTATUS[0]} at $(since) s" >> $R/ttft.log
VLMQ_PREFILL_PREPARE=whole speed_table speed7b-whole qwen2-vl-7b int4_wo,int8_wo $(( $(left) - 8 ))
finish_call
cat $R/tests.log $R/ttft/ab.md 2>/dev/null; tail -n 3 $R/ttft.log; cat $R/speed7b-whole.log
