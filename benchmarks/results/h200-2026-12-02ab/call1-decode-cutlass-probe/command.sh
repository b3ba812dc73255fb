# Twenty-ninth session, call 1: CUTLASS's TMA-fed Hopper GEMMs at decode rows (new 16-token tiles: 128 x 16 x 128
# cooperative, the same stream-K, 64 x 16 x 128 ping-pong; int8 / int4 weight-only, FP8 / int8 W8A8) -- their GPU
# tests (every tile at 300, 77, 1029 and 5 rows), then each against the engine's decode GEMV on the 7b and 2b
# projections at rows 1 and 16, weights past L2 (bench_decode_gemm.py): does a multi-stage TMA pipeline stream the
# weights faster than the GEMV's register loads?
. benchmarks/device_call.sh
timeout 170 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=line tests/engine/test_cutlass_gpu.py \
    2>&1 | grep -v "$F" | tail -14 > $R/test.log
echo "test rc ${PIPESTATUS[0]} at $(since) s" >> $R/test.log
timeout $(( $(left) - 10 )) python3 benchmarks/bench_decode_gemm.py --out $R/bench --presets 7b,2b --reps 20 \
    2>&1 | grep -v "$F" > $R/bench.log
echo "bench rc ${PIPESTATUS[0]} at $(since) s" >> $R/bench.log
finish_call
cat $R/test.log; tail -40 $R/bench.log
