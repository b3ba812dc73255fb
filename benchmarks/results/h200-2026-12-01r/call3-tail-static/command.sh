# Call 3 (eighteenth session): the CUDA-core GEMV with K and row strides as compile-time constants and the K tail as
# a narrower tile (sm_90 SASS on the CPU: 7b int4 gate/up 4.87 -> 4.17 instructions a nibble-lane, down 4.40 ->
# 3.99). The 7b int4 one-row sweep against call 1's, the kernel GPU tests, the 7b speed rows.
. benchmarks/device_call.sh
timeout 150 python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --rows 1 --modes int4-g128 --presets 7b \
    --jobs 14 --budget-s 100 2>&1 | grep -v "$F" | grep -v "^  (" | tail -12 > $R/sweep.log; echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short -x tests/engine/test_kernels_gpu.py 2>&1 | grep -v "^$" | tail -8 > $R/kernels.log; echo "rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int4_wo,int4_awq \
    --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -12 > $R/speed7b.log; echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
cat $R/sweep.log; tail -4 $R/kernels.log; cat $R/speed7b.log
