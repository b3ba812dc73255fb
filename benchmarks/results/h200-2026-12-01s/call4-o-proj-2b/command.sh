# Call 4 (nineteenth session): the engines case call 3's 300 s cut (int4_wo with the o_proj combine), then every 2b
# row with BF16 in the same run (batch 1 and 16) on call 2's int8 vec 4 tiles.
. benchmarks/device_call.sh
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py -k "int4_wo-o_proj" 2>&1 | grep -v "^$" | tail -6 > $R/engines.log; echo "rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed2b.log; echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
tail -n 4 $R/engines.log; cat $R/speed2b.log
