# Twenty-ninth session, call 5: call 3's kernel (weights through cp.async stages) with two accumulator chains a chunk
# (Nsight in call 4: dependency stalls, not bytes in flight) and its one-row forms capped at ~80 registers a thread
# (occupancy 31 % -> ~37 %) -- its GPU tests, every configuration against the shipped Triton tiles (bench_w4_mma.py;
# winners into $R/tiles.json), and where the bench wrote a 7b entry, the 7b int4_wo step A/B'd (3 rounds).
. benchmarks/device_call.sh
timeout 120 python3 -m pytest -q -x -m gpu -p no:cacheprovider --tb=short tests/engine/test_w4_mma_gpu.py \
    2>&1 | grep -v "$F" | tail -8 > $R/test.log
echo "test rc ${PIPESTATUS[0]} at $(since) s" >> $R/test.log
timeout 170 python3 benchmarks/bench_w4_mma.py --out $R/bench --reps 20 --write-tiles --tiles-out $R/tiles.json \
    2>&1 | grep -v "$F" > $R/bench.log
echo "bench rc ${PIPESTATUS[0]} at $(since) s" >> $R/bench.log
if grep -q '"shape": "7b' $R/tiles.json 2>/dev/null; then
    timeout $(( $(left) - 10 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes int4_wo \
        --batch-sizes 1 --env VLMQ_TILES --rounds 3 --variants "src/vlmq/engine/kernels/tiles/h200.json;$R/tiles.json" \
        2>&1 | grep -v "$F" | tail -8 > $R/ab7b.log
    echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
fi
finish_call
cat $R/test.log; tail -19 $R/bench.log; cat $R/ab7b.log 2>/dev/null
