# Twenty-sixth session, call 2: the new defaults on the GPU -- one pipeliner stage in the decode attention and the
# BF16 one-row tile table written after call 1. The engines' greedy answers (eager = compiled, every real recipe on
# the toy), the BF16 GEMV cases (the table's tiles), then the attention's context and graph cases (the default and
# the stages3_* cases among them).
. benchmarks/device_call.sh
timeout 340 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_gpu_engines.py \
    2>&1 | grep -v "$F" | grep -v "^$" | tail -6 > $R/engines.log; echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout 90 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_kernels_gpu.py -k bf16-bf16 \
    2>&1 | grep -v "$F" | grep -v "^$" | tail -4 > $R/kernels.log; echo "kernels rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_attention_gpu.py \
    -k "follows_the_context or replays_from_a_cuda_graph" 2>&1 | grep -v "$F" | grep -v "^$" | tail -6 > $R/attention.log
echo "attention rc ${PIPESTATUS[0]} at $(since) s" >> $R/attention.log
finish_call
cat $R/engines.log $R/kernels.log $R/attention.log
