# Planned by the forty-ninth session, moved after the fiftieth's call 2 (BUDGET=560, warm after call 2; its engines
# test went there). The deferral where the forty-ninth session's call 1 measured it only all together: the lm_head's
# (BF16 on every recipe) on top of the measured rule on the 2b, and the 7b per projection (all three: int4_wo 0.986x,
# int8_wo 1.007x; the rule defers none there). Adopt: extend NORM_DEFER_MEASURED where a variant is faster (then its
# engines test: gpu_tests NAME 175 tests/recipes/test_gpu_engines.py -k RECIPE). Then $VLMQ_W8A8_ROW_MAX=forward on
# the 7b's fp8 step, as call 2 did on the 2b (fiftieth session: there only the fp8 gate/up, a one-row tensor-core
# tile, takes forwarded maxima -- its normalize_rows goes; the 7b q/k/v and smoothquant's gate/up normalize first).
# First (fiftieth session, CPU only): $VLMQ_GEMV_UNMASKED=1 -- whole one-row CUDA-core tiles load their activations,
# norm weight and int4 group scales and zero points without masks (sm_90 SASS: int4 2b q/k/v and gate/up -10 %
# instructions a K tile, int8 3-8 %; benchmarks/results/cpu-gemv-unmasked-sass-2026-12-05): its GPU test (the same bits
# on every shipped int4 / int8 / bf16 tile) and the 2b int4_wo step. Adopt (unmasked_setting's default in gemv.py)
# where the step is faster and the test passed.
. benchmarks/device_call.sh
gpu_tests unmasked 100 tests/engine/test_kernels_gpu.py -k unmasked
RECIPE=int4_wo,int8_wo decode_ab unmasked_2b qwen2-vl-2b 1 VLMQ_GEMV_UNMASKED '0;1' 90
RECIPE=bf16,int8_wo,int4_wo decode_ab split_2b qwen2-vl-2b 1 VLMQ_NORM_DEFER \
    'measured;qkv,lm_head;gate_up,lm_head;qkv,gate_up,lm_head' 110
RECIPE=int4_wo,int8_wo decode_ab split_7b qwen2-vl-7b 1 VLMQ_NORM_DEFER 'measured;qkv;gate_up;lm_head' 150
RECIPE=fp8 AB_FLAGS=--rebuild decode_ab forward_7b qwen2-vl-7b 1 VLMQ_W8A8_ROW_MAX 'gate_up;forward'
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/unmasked.log | tail -4
for f in unmasked_2b split_2b split_7b forward_7b; do cat $R/$f/ab.md 2>/dev/null || cat $R/$f.log; done
