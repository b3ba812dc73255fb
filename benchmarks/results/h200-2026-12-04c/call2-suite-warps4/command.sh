# Planned by the forty-fourth session (BUDGET=585 from a cold start, `.whl/` carried; no CUTLASS library: the tests'
# prefill takes the library paths): (1) the GPU tests of the decode attention and the engines' eager = compiled greedy
# answers, not run since the forty-third session threaded the plan's block size through the attention kernel and its
# launch (every default path goes through them); (2) the plan `warps=4` A/B'd again in whole BF16 decode steps (2b at
# batch 1 and 16; the twenty-third session measured it 1.371 against 1.329 ms/token on an older kernel; on the kernel as
# it stands its SASS issues fewer instructions a warp in every phase: blocks 624 -> 379 outside the loop, combine 884 ->
# 563, with 198 registers; the FP8 kernel's spill gone), then the 7b at batch 1 with what is left.
. benchmarks/device_call.sh
gpu_tests t_attn_engines 330 tests/engine/test_attention_gpu.py tests/recipes/test_gpu_engines.py
bf16_ab ab2b qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN 'default;warps=4' 170
bf16_ab ab7b qwen2-vl-7b 1 VLMQ_ATTENTION_PLAN 'default;warps=4'
finish_call
cat $R/ab2b.log $R/ab7b.log; grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/t_attn_engines.log | tail -25
