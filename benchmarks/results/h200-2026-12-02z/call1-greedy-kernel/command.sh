# Twenty-seventh session, call 1: the step's greedy advance in one kernel (vlmq::greedy_advance) on the GPU -- its
# test against the reference replayed from a CUDA graph, the step's kernel counts for every recipe (the advance must
# be one kernel), then the 2b and 7b BF16 steps A/B'd against Inductor's tail (VLMQ_GREEDY_ADVANCE=inductor, the
# runner rebuilt for each value).
. benchmarks/device_call.sh
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_fused_gpu.py -k greedy \
    2>&1 | grep -v "$F" | tail -15 > $R/greedy_test.log
echo "greedy test rc ${PIPESTATUS[0]} at $(since) s" >> $R/greedy_test.log
AB_FLAGS=--rebuild bf16_ab greedy2b qwen2-vl-2b 1,16 VLMQ_GREEDY_ADVANCE 'inductor;kernel' 200
timeout $(( $(left) - 110 )) python3 -m pytest -q -s -m gpu -p no:cacheprovider --tb=short \
    tests/engine/test_fused_gpu.py -k six_kernels 2>&1 | grep -v "$F" > $R/kernels.log
echo "kernels rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log
AB_FLAGS=--rebuild bf16_ab greedy7b qwen2-vl-7b 1 VLMQ_GREEDY_ADVANCE 'inductor;kernel'
finish_call
cat $R/greedy_test.log $R/greedy2b/ab.md $R/greedy2b.log; grep -a "outside the layers\|passed\|failed\|rc " $R/kernels.log | cut -c1-400; cat $R/greedy7b/ab.md $R/greedy7b.log
