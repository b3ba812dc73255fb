# Twenty-second session, call 2: how much a decode GEMV gains with its weights resident in L2 (why call 1's prefetch
# lost?), then the planned signed-zero call (benchmarks/planned/call1-...: run with exact_quotient's fma(q, -d, x) and
# test_rope_kv_write_keeps_signed_zeros_on_gpu checked out from e51f324^, uncommitted), the fp8 engines test and the
# attention-side GPU tests.
. benchmarks/device_call.sh
timeout 170 python3 benchmarks/bench_l2_resident.py --out $R/l2 --presets 2b,7b 2>&1 | grep -v "$F" | tail -30 > $R/l2.log
echo "l2 rc ${PIPESTATUS[0]} at $(since) s" >> $R/l2.log
timeout 100 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=long tests/engine/test_attention_gpu.py -k signed_zeros \
    2>&1 | grep -v "$F" | grep -E "differ|passed|failed|Error|assert" | head -40 > $R/zeros.log
echo "zeros rc ${PIPESTATUS[0]} at $(since) s" >> $R/zeros.log
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py -k "fp8 and not l2" \
    2>&1 | grep -v "$F" | tail -6 > $R/engines_fp8.log
echo "engines fp8 rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines_fp8.log
timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=line tests/engine/test_attention_gpu.py \
    tests/engine/test_prefill_prepare_gpu.py 2>&1 | grep -v "$F" | tail -20 > $R/attention.log
echo "attention rc ${PIPESTATUS[0]} at $(since) s" >> $R/attention.log
finish_call
cat $R/l2.log $R/zeros.log $R/engines_fp8.log $R/attention.log
