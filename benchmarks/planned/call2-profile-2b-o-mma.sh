# Planned by the thirty-fourth session (~150 s warm): the per-step profile of the 2b int4_wo batch-16 step before and
# after the o_proj w4_mma entry that session shipped (a kernel change lands with its profile): the speed-profile task
# (torch.profiler per kernel and per layer place) with the shipped table less its w4_mma entries (made as the call
# runs) and with the shipped one.
. benchmarks/device_call.sh
python3 benchmarks/bench_w4_mma.py --candidate-table "$R/tiles-before-o-mma.json"
for table in "$R/tiles-before-o-mma.json" src/vlmq/engine/kernels/tiles/h200.json; do
    name=prof-$(basename "$table" .json)
    VLMQ_TILES=$table timeout $(( $(left) / 2 )) python3 benchmarks/bench_speed.py --out "$R/$name" \
        --models qwen2-vl-2b --recipes int4_wo --batch-sizes 16 --tasks speed-profile --long-context-recipes '' \
        --budget-s $(( $(left) / 2 - 10 )) 2>&1 | grep -v "$F" | tail -6 > "$R/$name.log"
    echo "$name rc ${PIPESTATUS[0]} at $(since) s" >> "$R/$name.log"
done
finish_call
cat $R/prof-*.log; grep -A12 "bs16" $R/prof-*/profiles.md | head -60
