# Twenty-sixth session, call 4: every 2b recipe at batch 1 and 16 in one run on the new defaults (one pipeliner stage
# in the decode attention, the BF16 one-row tile table of call 1). Ran as `CALL=z4 BUDGET=540 . <this file>`.
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 12 )) 2>&1 | grep -v "$F" | tail -14 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
cat $R/speed2b.log
