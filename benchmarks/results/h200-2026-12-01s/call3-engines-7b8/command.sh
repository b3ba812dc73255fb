# Call 3 (nineteenth session): eager = compiled greedy answers on the toy for every real recipe on call 2's int8 vec 4
# tiles (given 300 s: a bare machine compiles first), then the 7b 8-bit rows with BF16 in the same run (TTFT bars).
. benchmarks/device_call.sh
timeout 300 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py 2>&1 | grep -v "^$" | tail -8 > $R/engines.log; echo "rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int8_wo,fp8,smoothquant \
    --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -14 > $R/speed7b.log; echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
tail -n 4 $R/engines.log; cat $R/speed7b.log
