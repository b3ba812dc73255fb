# Call 2 (nineteenth session): the one-row int8 sweep with int8 at vec 4 (128-bit weight loads; never timed; SASS on
# the CPU: 7b gate/up 8 rows 1 warp vec 4 issues 4.24 instructions a value against the shipped vec 2 tile's 5.99),
# its tiles written to the table, then the decode step of the 8-bit recipes A/B'd on the old and new tables
# (VLMQ_TILES, one process, interleaved rounds).
. benchmarks/device_call.sh
TILES=src/vlmq/engine/kernels/tiles/h200.json
cp $TILES $R/tiles_before.json
timeout 300 python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --rows 1 --modes int8-a16 --presets 7b,2b \
    --jobs 14 --budget-s 230 2>&1 | grep -v "$F" | grep -v "^  (" | tail -14 > $R/sweep.log; echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
SOURCES=$(python3 -c "import json; print(' '.join(json.load(open('$TILES'))['sources']))")
python3 benchmarks/bench_kernels.py --out $R/write --write-tiles $SOURCES $R/sweep/bench_kernels_sweep.json 2>&1 | grep -v "$F" | tail -3 >> $R/sweep.log
cp $TILES $R/tiles_after.json
timeout $(( $(left) - 60 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes int8_wo,smoothquant --batch-sizes 1 \
    --env VLMQ_TILES --variants "$R/tiles_before.json;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" | tail -14 > $R/ab7b.log; echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b --recipes int8_wo --batch-sizes 1 \
    --env VLMQ_TILES --variants "$R/tiles_before.json;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" | tail -12 > $R/ab2b.log; echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
finish_call
cat $R/sweep.log; cat $R/ab7b/ab.md $R/ab2b/ab.md 2>/dev/null; tail -n 3 $R/ab7b.log $R/ab2b.log
