# Twenty-sixth session, call 5 (the twenty-fifth session's planned call 2 without its BF16 GEMV cases, which call 2
# ran): the 7b W8 rows beside BF16 in one run, on the new defaults. Ran as `CALL=z5 BUDGET=560 . <this file>`.
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b \
    --recipes bf16,int8_wo,smoothquant --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 12 )) 2>&1 | grep -v "$F" | tail -12 > $R/speed7b.log
echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
cat $R/speed7b.log
