# Call 1 (eighteenth session): the one-row int4 sweep with the light tiles (8 rows, vec 1 / 2, 1-2 warps) never timed
# before, its tiles written to the table, then the 7b and 2b int4_wo decode step A/B'd on the old and new tables
# (VLMQ_TILES, one process, interleaved rounds).
. benchmarks/device_call.sh
D=benchmarks/results/h200-2026-12-01r/call1-int4-sweep
TILES=src/vlmq/engine/kernels/tiles/h200.json
cp $TILES $R/tiles_before.json
timeout 360 python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --rows 1 --modes int4-g128 --presets 7b,2b \
    --jobs 14 --budget-s 290 2>&1 | grep -v "$F" | tail -40 > $R/sweep.log; echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
SOURCES=$(python3 -c "import json; print(' '.join(json.load(open('$TILES'))['sources']))")
python3 benchmarks/bench_kernels.py --out $R/write --write-tiles $SOURCES $R/sweep/bench_kernels_sweep.json 2>&1 | grep -v "$F" | tail -3 >> $R/sweep.log
cp $TILES $R/tiles_after.json
timeout $(( $(left) - 70 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes int4_wo --batch-sizes 1 \
    --env VLMQ_TILES --variants "$R/tiles_before.json;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" | tail -12 > $R/ab7b.log; echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b --recipes int4_wo --batch-sizes 1 \
    --env VLMQ_TILES --variants "$R/tiles_before.json;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" | tail -12 > $R/ab2b.log; echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
finish_call
grep -v "^  (" $R/sweep.log | cut -c1-190; cat $R/ab7b/ab.md $R/ab2b/ab.md 2>/dev/null; tail -3 $R/ab7b.log $R/ab2b.log
