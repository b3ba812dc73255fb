# (Run from benchmarks/planned/ as BUDGET=420 CALL=b2: the forty-second session's call 2, 140 s warm after call 1, at 6c982f2.)
# Planned by the forty-first session (warm after call 1, BUDGET=420): the per-step profile the frag rows' default
# (574c5a0, $VLMQ_FRAG_ROWS=1) landed without -- bench_speed.py's speed-profile of the 7b int4_wo step at batch 16
# with the rows in column order (0) and in the 16-row int4 tiles' K order (1): which kernels the A/B's 0.983x came
# from (q/k/v's and gate/up's tiles, against normalize_rows' cost of the permute).
. benchmarks/device_call.sh
for v in 0 1; do
    VLMQ_FRAG_ROWS=$v timeout $(( ($(left) - 10) / (2 - v) )) python3 benchmarks/bench_speed.py --out $R/prof7b16-$v \
        --models qwen2-vl-7b --recipes int4_wo --batch-sizes 16 --tasks speed-profile --long-context-recipes "" \
        --budget-s $(( ($(left) - 20) / (2 - v) )) 2>&1 | grep -v "$F" | tail -8 > $R/prof7b16-$v.log
    echo "prof7b16-$v rc ${PIPESTATUS[0]} at $(since) s" >> $R/prof7b16-$v.log
done
finish_call
cat $R/prof7b16-*.log; for v in 0 1; do grep -A14 "bs16" $R/prof7b16-$v/profiles.md | head -16; done
