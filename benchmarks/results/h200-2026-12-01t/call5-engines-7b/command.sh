# Call 5 (twenty-first session): eager = compiled greedy answers on the toy for every real recipe, now with the
# weight-side prefill work on by default (VLMQ_PREFILL_PREPARE=side) and call 2's tiles (7b int4 gate/up kept: call
# 4's A/B), then the 7b weight-only rows with BF16 in the same run (decode and TTFT bars).
. benchmarks/device_call.sh
timeout 300 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py 2>&1 | grep -v "^$" | tail -8 > $R/engines.log; echo "rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int4_wo,int4_awq,int8_wo \
    --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -14 > $R/speed7b.log; echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
tail -n 4 $R/engines.log; cat $R/speed7b.log
