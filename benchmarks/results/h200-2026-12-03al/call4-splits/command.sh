# (Run from benchmarks/planned/ as BUDGET=590 CALL=al4: the fortieth session's call 4, 228 s from a cold start, at f7a5c8f.)
# Planned by the fortieth session (BUDGET=590, from a cold start, carrying .whl and build/packed): the shipped tiles at
# every K slice count from half their own to twice it (bench_kernels.py --splits-only, fused forms, every decode mode,
# rows 1 and 16, both presets). Nsight Compute on the 7b 16-row int4 down (this session's call 3): 560 programs, 0.71
# of a wave of the 6 an SM its 80 registers and shared memory allow, 23 % achieved occupancy, barrier / wait / long
# scoreboard stalls ~1 cycle an issue each -- and the int8 tile of twice the bytes took as long (25.2 vs 24.8 us): the
# tile waits on latency, not bytes, and no sweep had timed it at more than 10 slices. The table written from the sweep
# (--write-tiles with the shipped table's sources and this sweep) is then A/B'd against the shipped one in whole decode
# steps (bench_decode_ab.py --env VLMQ_TILES, batch 1 and 16), the shipped table restored on the machine after.
. benchmarks/device_call.sh
TILES=src/vlmq/engine/kernels/tiles/h200.json
cp $TILES $R/tiles_before.json
timeout 220 python3 benchmarks/bench_kernels.py --out $R/splits --sweep --splits-only --fused \
    --modes int4-g128,int8-a16,fp8-a8,int8-a8,bf16 --presets 7b,2b --rows 16,1 --jobs 15 --budget-s 150 2>&1 \
    | grep -v "$F" | grep -v "^  (" | tail -44 > $R/splits.log
echo "splits rc ${PIPESTATUS[0]} at $(since) s" >> $R/splits.log
SOURCES=$(python3 -c "import json; print(' '.join(json.load(open('$TILES'))['sources']))")
python3 benchmarks/bench_kernels.py --out $R/write --write-tiles $SOURCES $R/splits/bench_kernels_sweep.json 2>&1 \
    | grep -v "$F" | tail -2 >> $R/splits.log
cp $TILES $R/tiles_after.json && cp $R/tiles_before.json $TILES
cmp -s $R/tiles_before.json $R/tiles_after.json && echo "the sweep changed no tile" >> $R/splits.log
RECIPE=int4_wo,int8_wo decode_ab ab7b qwen2-vl-7b 1,16 VLMQ_TILES "$R/tiles_before.json;$R/tiles_after.json" \
    $(( ($(left) - 10) / 2 ))
RECIPE=int4_wo,fp8 decode_ab ab2b qwen2-vl-2b 1,16 VLMQ_TILES "$R/tiles_before.json;$R/tiles_after.json" \
    $(( $(left) - 8 ))
finish_call
cat $R/splits.log $R/ab7b.log $R/ab2b.log
