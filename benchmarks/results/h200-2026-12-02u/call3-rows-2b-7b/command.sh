# Twenty-second session, call 3: the planned rows (benchmarks/planned/call2 and call3 of the twenty-first session)
# in one call: every 2b recipe at batch 1 and 16, then the 7b W8A8 rows with BF16, on main (exact_quotient's
# fma(q, -d, x); $VLMQ_L2_PREFETCH off).
. benchmarks/device_call.sh
timeout $(( $(left) - 175 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 190 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b \
    --recipes bf16,fp8,smoothquant --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' \
    --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -12 > $R/speed7b.log
echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
cat $R/speed2b.log $R/speed7b.log
