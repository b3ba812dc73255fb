# Call 4 (eighteenth session): eager = compiled greedy answers on the toy for every real recipe after the GEMV's
# static shapes and tail tile, then the 2b rows with call 1 and 3's tiles.
. benchmarks/device_call.sh
timeout 210 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py 2>&1 | grep -v "^$" | tail -8 > $R/engines.log; echo "rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int4_wo,int4_awq,int8_wo \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -14 > $R/speed2b.log; echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
tail -4 $R/engines.log; cat $R/speed2b.log
