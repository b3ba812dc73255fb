# Run in the twenty-first session (planned in the twentieth): weight-side prefill work one layer ahead on a side stream.
. benchmarks/device_call.sh
timeout 200 python3 -m pytest -q -m gpu tests/engine/test_prefill_prepare_gpu.py 2>&1 | grep -v "$F" | tail -15 > $R/tests.log
echo "tests rc ${PIPESTATUS[0]} at $(since) s" >> $R/tests.log
timeout 120 python3 benchmarks/bench_dequant_overlap.py --out $R/overlap --preset 7b --formats int4 --slice-mb '' \
    2>&1 | grep -v "$F" | tail -12 > $R/overlap.log; echo "overlap rc ${PIPESTATUS[0]} at $(since) s" >> $R/overlap.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ttft --model qwen2-vl-7b --recipes int4_wo \
    --batch-sizes 1 --env VLMQ_PREFILL_PREPARE --variants 'off;side' --rebuild --ttft --rounds 3 --new-tokens 16 \
    2>&1 | grep -v "$F" | tail -20 > $R/ttft.log; echo "ttft rc ${PIPESTATUS[0]} at $(since) s" >> $R/ttft.log
finish_call
cat $R/tests.log $R/overlap.log $R/ttft/ab.md 2>/dev/null; tail -n 3 $R/ttft.log
