# Twenty-eighth session, call 3: the int4 tensor-core GEMV with whole chunks loaded without predicates, activations
# loaded with the weights a round ahead, pointers moved on instead of recomputed -- its tests, every configuration
# timed against the Triton tiles (bench_w4_mma.py, best per shape into $R/tiles.json), the toy through the eager and
# compiled engines with every int4 decode GEMV on it (test_gpu_engines -k mma).
. benchmarks/device_call.sh
timeout 120 python3 -m pytest -q -x -m gpu -p no:cacheprovider --tb=short tests/engine/test_w4_mma_gpu.py \
    2>&1 | grep -v "$F" | tail -12 > $R/test.log
echo "test rc ${PIPESTATUS[0]} at $(since) s" >> $R/test.log
timeout 150 python3 benchmarks/bench_w4_mma.py --out $R/bench --reps 20 --write-tiles --tiles-out $R/tiles.json \
    2>&1 | grep -v "$F" > $R/bench.log
echo "bench rc ${PIPESTATUS[0]} at $(since) s" >> $R/bench.log
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py -k mma \
    2>&1 | grep -v "$F" | tail -12 > $R/engines.log
echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
finish_call
cat $R/test.log; tail -18 $R/bench.log; cat $R/engines.log
