# Thirty-third session, call 1. (1) The fused decode attention's GPU tests on 12 processes (gpu_tests, pytest-xdist):
# the thirty-second session's two-launch combine-order fix (cf4fd9e, not yet run on a GPU) and the new plans that load
# up to 8 cache blocks before the PDL wait. (2) The no-combine plan A/B'd in whole BF16 decode steps: one split a head
# whose every block (6 of 64 slots cover the workload's ~300-360-token context) loads before the wait, held in
# registers (8 warps: 255 registers, no spills on sm_90 for a BF16 cache; 16 warps: 128), against the default (5
# one-block splits, then an arrival and the last program's combine: ~3.2 us of the kernel's ~6.4 after the wait in
# the twenty-fourth session's trace). (3) The rest of the GPU suite for the time left.
. benchmarks/device_call.sh
gpu_tests attention 150 tests/engine/test_attention_gpu.py -k "single_launch or fused_rope_write or follows_the_context"
V='default;splits=1,prefetch=6,warps=8;splits=1,prefetch=5,warps=8;splits=1,prefetch=6,warps=16'
bf16_ab ab2b qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN "$V" 170
bf16_ab ab7b qwen2-vl-7b 1 VLMQ_ATTENTION_PLAN 'default;splits=1,prefetch=6,warps=8' 110
gpu_tests rest $(( $(left) - 8 )) tests --ignore=tests/recipes/test_gpu_engines.py \
    -k "not single_launch and not fused_rope_write and not follows_the_context"
finish_call
grep -c PASSED $R/attention.log; grep "FAILED\|ERROR\|rc " $R/attention.log | head -20
cat $R/ab2b/ab.md $R/ab7b/ab.md 2>/dev/null; tail -n 4 $R/ab2b.log $R/ab7b.log
grep -c PASSED $R/rest.log; grep "FAILED\|ERROR\|rc \| passed\| failed" $R/rest.log | tail -30
