# Twenty-seventh session, call 4 (a fresh machine: call 3's was given back while idle): the 2b 4-bit rows beside
# BF16 (call 3's 2b run stopped at its budget before them), then the 7b 8-bit rows (beside call 3's 7b BF16).
. benchmarks/device_call.sh
timeout 200 python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s 195 2>&1 | grep -v "$F" | tail -10 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b \
    --recipes int8_wo,fp8,smoothquant --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 12 )) 2>&1 | grep -v "$F" | tail -10 > $R/speed7b.log
echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
cat $R/speed2b.log $R/speed7b.log
