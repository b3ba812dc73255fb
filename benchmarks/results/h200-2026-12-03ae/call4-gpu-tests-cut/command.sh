# Thirty-second session, call D (~330 s warm): main's GPU-marked tests (kernels against their references, the
# prefill preparation, the attention, CUTLASS), the end-to-end engines file aside (run whole in the thirty-first
# session's call 4: 11 passed), as a record of main at 7327583 on a lent H200.
. benchmarks/device_call.sh
timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=line -rfE tests \
    --ignore=tests/recipes/test_gpu_engines.py 2>&1 | grep -v "$F" | tail -40 > $R/gpu_tests.log
echo "gpu tests rc ${PIPESTATUS[0]} at $(since) s" >> $R/gpu_tests.log
finish_call
cat $R/gpu_tests.log
