# Planned (twenty-first session, not yet run): the 7b fp8 and smoothquant rows with BF16 in the same run, on the
# twenty-first session's int8 tiles (their TTFT bars are met; their batch-1 decode bars, <= 2.2 ms, are not).
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b \
    --recipes bf16,fp8,smoothquant --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' \
    --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -12 > $R/speed7b.log
echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
cat $R/speed7b.log
