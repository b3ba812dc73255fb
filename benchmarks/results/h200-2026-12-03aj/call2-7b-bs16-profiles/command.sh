# (Run as BUDGET=330 CALL=a2, warm after call 1: the thirty-eighth session's call 2, 211 s; typed as one bash -c line.)
# Where the 7b batch-16 step goes, int4 against the 8-bit recipes (the 7b batch-16 "4-bit faster than 8-bit" bars read
# ties at 1.002x / 0.994x in the thirty-seventh session): bench_speed.py's speed-profile at batch 16 (its batch-1 and
# first-token profiles come with it).
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/prof7b16 --models qwen2-vl-7b \
    --recipes int4_wo,int8_wo,fp8,int4_awq --batch-sizes 16 --tasks speed-profile --long-context-recipes "" \
    --budget-s $(( $(left) - 16 )) 2>&1 | grep -v "$F" | tail -8 > $R/prof7b16.log
echo "prof7b16 rc ${PIPESTATUS[0]} at $(since) s" >> $R/prof7b16.log
finish_call
cat $R/prof7b16.log
