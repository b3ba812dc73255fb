# Twenty-eighth session, call 1: the int4 tensor-core decode GEMV (cutlass/w4_gemv.cu) on the GPU -- its tests
# against the reference (every built configuration, 2b / 7b shapes, rows 1-16, groups 32-128, ragged shapes, a CUDA
# graph with PDL), then every configuration timed against the shipped Triton tiles at the 2b and 7b projections
# (bench_w4_mma.py, rows 1 and 16; the best per shape written to a tile table in $R), then the 2b int4_wo decode
# step A/B'd between the shipped table and that one (VLMQ_TILES), time allowing.
. benchmarks/device_call.sh
timeout 200 python3 -m pytest -q -x -m gpu -p no:cacheprovider --tb=short tests/engine/test_w4_mma_gpu.py \
    2>&1 | grep -v "$F" | tail -25 > $R/test.log
echo "test rc ${PIPESTATUS[0]} at $(since) s" >> $R/test.log
timeout $(( $(left) - 150 )) python3 benchmarks/bench_w4_mma.py --out $R/bench --reps 30 --write-tiles \
    --tiles-out $R/tiles.json 2>&1 | grep -v "$F" > $R/bench.log
echo "bench rc ${PIPESTATUS[0]} at $(since) s" >> $R/bench.log
if [ -f $R/tiles.json ] && [ "$(left)" -gt 140 ]; then
    timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b \
        --recipes int4_wo --batch-sizes 1,16 --env VLMQ_TILES \
        --variants "$PWD/src/vlmq/engine/kernels/tiles/h200.json;$R/tiles.json" --rounds 3 2>&1 | grep -v "$F" \
        | tail -8 > $R/ab2b.log
    echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
fi
finish_call
cat $R/test.log; tail -40 $R/bench.log; cat $R/ab2b/ab.md $R/ab2b.log 2>/dev/null
