# Planned by the forty-ninth session (BUDGET=560, from a cold start). The 2b's W8A8 one-row tiles swept again, whole,
# in the fused form the engine runs: fp8's (the table's were swept plain on 2026-11-30, rows quantized by the caller,
# before the pipeliner) and, for the first time, smoothquant's int8 W8A8 ones (which ran int8_wo's tiles: the table
# keeps a W8A8 int8 tile beside the weight-only one since the forty-ninth session). In that form the shipped tiles
# issue 1.4-3x the instructions a weight value of wider-row ones (sm_90 SASS on the CPU:
# benchmarks/results/cpu-fp8-tiles-sass-2026-12-04, cpu-w8a8-int8-tiles-sass-2026-12-04). The fused sweep quantizes
# q/k/v's and o's rows in every program, down_proj's with gate/up's row maxima, as the engine does; fp8 tiles at 3 / 4
# pipeliner stages are among the candidates. Then a table written from every recorded sweep plus this one, and the
# 2b fp8 and smoothquant decode steps on the shipped table against it. Adopt where a step is faster (copy the new
# table over the shipped one, or write it again with --veto for a recipe whose step lost), then call 2 checks it.
. benchmarks/device_call.sh
TABLE=src/vlmq/engine/kernels/tiles/h200.json
cp $TABLE $R/tiles_before.json
timeout $(( $(left) - 200 )) python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --fused --rows 1 \
    --modes fp8-a8,int8-a8 --presets 2b --jobs 14 --budget-s 200 2>&1 | grep -v "$F" | grep -v "^  (" | tail -30 \
    > $R/sweep.log
echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
SOURCES=$(python3 -c "import json; print(' '.join(json.load(open('$TABLE'))['sources']))")
python3 benchmarks/bench_kernels.py --out $R/write --write-tiles $SOURCES $R/sweep/bench_kernels_sweep.json \
    > $R/write.log 2>&1; echo "write rc $? at $(since) s" >> $R/write.log
cp $TABLE $R/tiles_after.json && cp $R/tiles_before.json $TABLE
RECIPE=fp8,smoothquant decode_ab tiles_2b qwen2-vl-2b 1 VLMQ_TILES "$TABLE;$R/tiles_after.json"
finish_call
cat $R/sweep.log; tail -12 $R/write.log
cat $R/tiles_2b/ab.md 2>/dev/null || cat $R/tiles_2b.log
