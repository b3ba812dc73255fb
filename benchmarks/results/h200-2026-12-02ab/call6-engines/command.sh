# Twenty-ninth session, call 6: the closing check on main's code (the register form of the tensor-core GEMV back, the
# library with the 16-token CUTLASS tiles): the int4 tensor-core GEMV's GPU tests, then every real recipe's greedy
# answers on the toy through the eager and compiled engines (test_gpu_engines.py whole, the int4 "mma" cases too).
. benchmarks/device_call.sh
timeout 90 python3 -m pytest -q -x -m gpu -p no:cacheprovider --tb=short tests/engine/test_w4_mma_gpu.py \
    2>&1 | grep -v "$F" | tail -4 > $R/test.log
echo "test rc ${PIPESTATUS[0]} at $(since) s" >> $R/test.log
timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py \
    2>&1 | grep -v "$F" | tail -8 > $R/engines.log
echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
finish_call
cat $R/test.log $R/engines.log
