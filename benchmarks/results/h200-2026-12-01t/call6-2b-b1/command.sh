# Call 6 (twenty-first session): the 2b batch-1 rows whose tiles call 2's sweep changed, with BF16 in the same run.
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int8_wo,int4_wo,int4_awq \
    --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -14 > $R/speed2b.log; echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
cat $R/speed2b.log
