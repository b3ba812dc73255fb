# The candidate combine (a tile a split) made the default after call 1's A/B (2b BF16 b1 0.989x, b16 0.985x; 7b
# 0.997x): eager = compiled greedy answers for every real recipe on it, then the 2b table with it (as much as fits).
. benchmarks/device_call.sh
timeout 330 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py 2>&1 \
    | grep -v "$F" | grep -v "^$" | tail -6 > $R/engines.log; echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int4_wo,int8_wo,fp8,int4_awq,smoothquant --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
cat $R/engines.log $R/speed2b.log
