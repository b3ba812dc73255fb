# (Run from benchmarks/planned/ as BUDGET=200 CALL=b7: the forty-second session's call 7, 36 s from a cold start.)
# Planned by the forty-second session (BUDGET=200, from a cold start, carrying .whl and build/packed), after its call 5
# found a GEMV's activation loads costing the 2b gate/up's one-row stream more than its arithmetic (int4 5.6 -> 6.9 us
# with 16 bytes of activations a word, shared by a program's 8 rows; 8 dependent operations a word: +0.5): do more rows a
# program, or warps splitting them, pay it back? The 2b gate/up's int4 words (16 activation bytes a word, as the int4
# GEMV reads) and int8 words (the model's 16 bytes are twice the int8 GEMV's 8) with and without the activation loads,
# 8-32 rows a program over 1-4 warps.
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_weight_stream.py --out $R/act --matrices "2b gate_up int4,2b gate_up int8" \
    --rows 8,16,32 --words 64,128 --warps 1,2,4 --stages 1 --act 0,1 --reps 20 2>&1 | grep -v "$F" > $R/act.log
echo "act rc ${PIPESTATUS[0]} at $(since) s" >> $R/act.log
finish_call
python3 - "$R/act/bench_weight_stream.json" <<'PY'
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))["records"] if r.get("us")]
for m in dict.fromkeys(r["matrix"] for r in recs):
    for rows in (8, 16, 32):
        cells = [f"{4 * r['load_words']}B/{r['warps']}w act{r['act']} {r['us']:.2f}" for r in recs
                 if r["matrix"] == m and r["rows"] == rows]
        print(m, rows, " | ".join(cells))
PY
tail -n 2 $R/act.log
