# Twenty-third session, call 3: the BF16 one-row tiles of call 2's sweep (staged K tiles through the software pipeliner,
# register caps; now the shipped table) checked against the references on the GPU (test_kernels_gpu.py, the bf16
# weight cases) and end to end (eager = compiled greedy answers, the bf16 engines), then the 2b table with every
# recipe in one run (batch 1 and 16: the bars' ratios to BF16), then the 7b BF16 row with what time is left.
. benchmarks/device_call.sh
timeout 100 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_kernels_gpu.py -k "bf16-bf16" \
    2>&1 | grep -v "^$" | tail -6 > $R/kernels.log; echo "kernels rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log
timeout 140 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py -k "bf16" \
    2>&1 | grep -v "^$" | tail -6 > $R/engines.log; echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout $(( $(left) - 70 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 85 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b \
    --recipes bf16 --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' \
    --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -8 > $R/speed7b.log
echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
tail -n 3 $R/kernels.log $R/engines.log; cat $R/speed2b.log $R/speed7b.log
