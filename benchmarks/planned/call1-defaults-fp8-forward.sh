# Planned by the fifty-first session (BUDGET=560, from a cold start). (1) The GPU tests of the defaults it adopted:
# `test_gpu_engines.py` on every real recipe (smoothquant now `$VLMQ_W8A8_ROW_MAX=forward` by default -- its label says
# so --, int4's whole one-row tiles unmasked: both were checked on the GPU as settings, the tokens of smoothquant's
# forward form by `test_forwarded_maxima_gpu.py`, of int4 unmasked by the engines test), `test_forwarded_maxima_gpu.py`
# (whose ring test's expectation was fixed: the 7b fp8 case failed on it alone) and `test_fused_mlp_gpu.py`. (2) The
# 2b fp8 step with `forward` against `gate_up` on the new rule: q/k/v's CUDA-core tiles take forwarded maxima, gate/up's
# one-row tensor-core tile no longer does (with it the step was 1.055x; q/k/v alone went 4.75 -> 3.70 us a layer in the
# profile). Adopt fp8's forward (fused.ROW_MAX_MEASURED) where the step is faster: its tokens test ran in (1).
. benchmarks/device_call.sh
gpu_tests gpu 300 tests/recipes/test_gpu_engines.py tests/engine/test_forwarded_maxima_gpu.py \
    tests/engine/test_fused_mlp_gpu.py
RECIPE=fp8 AB_FLAGS=--rebuild decode_ab forward_fp8 qwen2-vl-2b 1 VLMQ_W8A8_ROW_MAX 'gate_up;forward'
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc \|relative difference\|kernels a step" $R/gpu.log | tail -24
cat $R/forward_fp8/ab.md 2>/dev/null || cat $R/forward_fp8.log
