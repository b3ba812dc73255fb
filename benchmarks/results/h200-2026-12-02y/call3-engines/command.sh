# Twenty-sixth session, call 3: call 2's first step again, at the file's real path (call 2 named
# tests/engine/test_gpu_engines.py; it lives in tests/recipes/): every real recipe's greedy answers on the toy, eager =
# compiled, on the new defaults (one pipeliner stage in the decode attention, the BF16 one-row tile table of call 1).
# Ran as one line with CALL unset (its folder /tmp/r_call).
. benchmarks/device_call.sh
timeout 340 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py 2>&1 \
    | grep -v "$F" | grep -v "^$" | tail -6 > $R/engines.log; echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
finish_call
cat $R/engines.log
