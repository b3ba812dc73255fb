# Planned (twenty-fourth session, not yet run): after call 1 (and its table written on main if the step gained), the
# BF16 GEMV and engine checks on the GPU, then the 2b table with every recipe in one run with the one-pass LayerNorms
# (its call 4 measured only BF16 with them: vision 3.742 ms).
. benchmarks/device_call.sh
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_kernels_gpu.py -k bf16-bf16 \
    2>&1 | grep -v "$F" | grep -v "^$" | tail -4 > $R/kernels.log; echo "kernels rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py -k bf16 \
    2>&1 | grep -v "$F" | grep -v "^$" | tail -4 > $R/engines.log; echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
cat $R/kernels.log $R/engines.log $R/speed2b.log
