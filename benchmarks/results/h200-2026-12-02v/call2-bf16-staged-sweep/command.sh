# Planned (twenty-second session, not yet run): the one-row fused sweep of the BF16 CUDA-core tiles through Triton's
# software pipeliner (stages 3 / 4: cp.async weight tiles, 40 registers against 64, benchmarks/results/
# cpu-gemv-stages-bf16-2026-12-02) -- the only new bf16 candidates (--new-only) -- then a table written from every
# recorded sweep plus this one, and the whole decode step on the shipped table against it, one process a preset.
# Why: with its weights resident in L2 the BF16 2b down takes 7.1 us against 10.4 from HBM, the 7b q/k/v 8.6 against
# 12.4 (twenty-second session, call 2): latency that more bytes in flight may hide; the 2b BF16 bar needs ~3 us a
# layer. After it: write the table here with the same --write-tiles sources (docs/benchmarks.md says how), veto a
# preset whose step lost (--veto), run test_kernels_gpu.py and test_gpu_engines.py with it, then the tables.
. benchmarks/device_call.sh
TABLE=src/vlmq/engine/kernels/tiles/h200.json
cp $TABLE $R/tiles_before.json
timeout $(( $(left) - 200 )) python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --fused --new-only --rows 1 \
    --modes bf16 --presets 2b,7b --jobs 14 --budget-s 150 2>&1 | grep -v "$F" | grep -v "^  (" | tail -30 > $R/sweep.log
echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
SOURCES=$(python3 -c "import json; print(' '.join(json.load(open('$TABLE'))['sources']))")
python3 benchmarks/bench_kernels.py --out $R/write --write-tiles $SOURCES $R/sweep/bench_kernels_sweep.json \
    > $R/write.log 2>&1; echo "write rc $? at $(since) s" >> $R/write.log
cp $TABLE $R/tiles_after.json && cp $R/tiles_before.json $TABLE
timeout $(( $(left) - 100 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b --recipes bf16 \
    --batch-sizes 1 --env VLMQ_TILES --variants "$TABLE;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/ab2b.log; echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes bf16 \
    --batch-sizes 1 --env VLMQ_TILES --variants "$TABLE;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/ab7b.log; echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
finish_call
cat $R/sweep.log $R/write.log; cat $R/ab2b/ab.md $R/ab7b/ab.md 2>/dev/null; tail -n 2 $R/ab2b.log $R/ab7b.log
