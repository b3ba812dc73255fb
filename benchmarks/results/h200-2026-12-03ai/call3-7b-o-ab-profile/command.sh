# (Run from benchmarks/planned/ as BUDGET=560 CALL=ai3: the thirty-seventh session's call 3, 175 s warm.)
# Thirty-seventh session (BUDGET=560, warm): the thirty-fourth session's call1-7b-o-ab.sh (the 7b int4_wo batch-16 step
# with the 7b o_proj 16-row w4_mma entry added) and then its call2-profile-2b-o-mma.sh in what is left.
. benchmarks/device_call.sh
python3 benchmarks/bench_w4_mma.py --candidate-table "$R/tiles-7b-o.json" --adopt "2b o:16" "7b o:16"
RECIPE=int4_wo decode_ab ab7b qwen2-vl-7b 16 VLMQ_TILES "src/vlmq/engine/kernels/tiles/h200.json;$R/tiles-7b-o.json" 270
python3 benchmarks/bench_w4_mma.py --candidate-table "$R/tiles-before-o-mma.json"
for table in "$R/tiles-before-o-mma.json" src/vlmq/engine/kernels/tiles/h200.json; do
    name=prof-$(basename "$table" .json)
    VLMQ_TILES=$table timeout $(( $(left) / 2 )) python3 benchmarks/bench_speed.py --out "$R/$name" \
        --models qwen2-vl-2b --recipes int4_wo --batch-sizes 16 --tasks speed-profile --long-context-recipes '' \
        --budget-s $(( $(left) / 2 - 10 )) 2>&1 | grep -v "$F" | tail -6 > "$R/$name.log"
    echo "$name rc ${PIPESTATUS[0]} at $(since) s" >> "$R/$name.log"
done
finish_call
cat $R/ab7b.log; cat $R/ab7b/ab.md 2>/dev/null; cat $R/prof-*.log
