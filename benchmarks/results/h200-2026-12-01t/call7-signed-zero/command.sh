# Call 7 (twenty-first session, the last ~240 s of device time): the FP8 KV write's -0 after exact_quotient's change
# (residual as fma(q, -d, x)), bit for bit against eager with signed zeros in K and V, and the quotient probe.
. benchmarks/device_call.sh
timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_attention_gpu.py tests/engine/test_kernels_gpu.py -k "rope_kv_write_is_bit_exact or exact_quotient" 2>&1 | grep -v "$F" | tail -8 > $R/tests.log; echo "tests rc ${PIPESTATUS[0]} at $(since) s" >> $R/tests.log
finish_call
cat $R/tests.log
# Result (tests.log): 17 passed, 4 failed — test_rope_kv_write_is_bit_exact_on_gpu[2-300-{static,per_head,
# visual_aware,dynamic}-2b], with -0 put into K and V (that edit has since moved into its own test,
# test_rope_kv_write_keeps_signed_zeros_on_gpu on branch next/signed-zero, which names the differing bytes); the 16 x 1 cases, the 7b 2 x 300
# ones and the quotient probe passed. The log's tail kept no detail, and the device time was spent.
