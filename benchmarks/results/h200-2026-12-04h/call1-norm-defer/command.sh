# Planned by the forty-eighth session (BUDGET=560 from a cold start): $VLMQ_NORM_DEFER, the RMSNorm deferred in the
# CUDA-core GEMV (its multiplier on the sums after the K loop: no statistics pass before the first tile), built and
# tested on the CPU only (Triton's interpreter, sm_90 PTX). First the engines' GPU test with it on the recipes it
# reaches (float rows: bf16 and weight-only; W8A8 keeps its prologue), then whole-step A/Bs at batch 1 -- the
# profiles put ~1 us of each one-row q/k/v and gate/up on that pass (2b int4 gate/up: 9.33 us added in the prologue,
# 8.22 + 1.17 with normalize_rows first). Adopt per projection where faster and the engines test passes with it;
# the engines test's eager engine keeps Qwen2RMSNorm's rounding, so a differing answer there needs reading (a near
# tie of bf16 arithmetic, or a fault) before a verdict.
. benchmarks/device_call.sh
# the engines' test (eager = compiled answers) with it set, and the fused step's logits against eager's with it
VLMQ_NORM_DEFER=qkv,gate_up,lm_head gpu_tests engines_defer 175 tests/recipes/test_gpu_engines.py \
    tests/engine/test_fused_gpu.py -k "deferred or (answer_the_same and (bf16 or int8_wo or int4))"
RECIPE=bf16,int8_wo,int4_wo decode_ab defer_2b qwen2-vl-2b 1 VLMQ_NORM_DEFER 'none;qkv;gate_up;qkv,gate_up,lm_head' 230
# the 7b's weight-only RMSNorms run first today (K = 3584 > NORM_FIRST_MIN_K: 7 kernels a layer); deferred, 5
RECIPE=int4_wo,int8_wo decode_ab defer_7b qwen2-vl-7b 1 VLMQ_NORM_DEFER 'none;qkv,gate_up,lm_head'
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines_defer.log | tail -6
for f in defer_2b defer_7b; do cat $R/$f/ab.md 2>/dev/null || cat $R/$f.log; done
