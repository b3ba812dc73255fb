# (Run from benchmarks/planned/ as BUDGET=420 CALL=b4: the forty-second session's call 4, 105 s from a cold start, at e0b7604.)
# Planned by the forty-second session (BUDGET=420, from a cold start, carrying .whl and build/packed): how far the 2b's
# one-row GEMVs sit above a stream of their own bytes -- the question under the 2b batch-1 bars (#16's int8_wo 0.794x
# BF16 against <= 0.75: ~2 us a layer). First the engine's GEMVs alone (bench_kernels.py, gate/up and down at one row,
# bf16 / int8 / int4, plain with and without PDL and in their fused forms, weights past L2), then the same matrices'
# words streamed with an XOR a word over every load shape (bench_weight_stream.py: rows a program, bytes a row a load,
# warps, stages; no PDL, so each call pays its launch and ramp).
. benchmarks/device_call.sh
timeout 170 python3 benchmarks/bench_kernels.py --out $R/kernels --presets 2b --rows 1 --modes bf16,int8-a16,int4-g128 \
    --shapes gate_up,down --reps 20 --budget-s 150 2>&1 | grep -v "$F" | tail -40 > $R/kernels.log
echo "kernels rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_weight_stream.py --out $R/stream \
    --matrices "2b gate_up bf16,2b gate_up int8,2b gate_up int4,2b down bf16,2b down int8,2b down int4" \
    --rows 4,8,16,32 --words 16,64,128 --warps 1,2,4 --stages 1,3 --reps 20 2>&1 | grep -v "$F" > $R/stream.log
echo "stream rc ${PIPESTATUS[0]} at $(since) s" >> $R/stream.log
finish_call
cat $R/kernels.log; python3 - "$R/stream/bench_weight_stream.json" <<'PY'
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))["records"] if r.get("us")]
for m in dict.fromkeys(r["matrix"] for r in recs):
    best = sorted((r for r in recs if r["matrix"] == m), key=lambda r: r["us"])[:3]
    for r in best:
        print(m, r["rows"], 4 * r["load_words"], r["warps"], r["stages"], f"{r['us']:.2f}", f"{r['tb_s']:.2f}")
PY
tail -3 $R/stream.log
