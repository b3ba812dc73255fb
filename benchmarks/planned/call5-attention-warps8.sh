# Planned by the forty-fourth session (BUDGET=360, `.whl/` carried): 8 warps a program for the fused decode attention
# at the workload's 300-token context. The sixth session measured 8 warps 2.2x slower than 2 on its kernel, but 4 warps
# also lost then and win now (2b BF16 batch 1 0.960x); the sm_90 SASS (CPU, Triton 3.6, 2b heads) at 8 warps issues
# fewer instructions a warp again in every phase but one (BF16: start 353 -> 258, blocks 837 -> 560, combine 563 ->
# 468; FP8: blocks 2162 at 2 warps -> 783, no spill at 205 registers), at more cross-warp barriers. Whole steps:
# BF16 2b batch 1 and 16 (default 4 against 8), then the FP8 cache at batch 1 (default 2 against 4 and 8).
. benchmarks/device_call.sh
bf16_ab ab2b qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN 'default;warps=8' 170
RECIPE=bf16+kv_fp8 decode_ab abfp8kv qwen2-vl-2b 1 VLMQ_ATTENTION_PLAN 'default;warps=4;warps=8'
finish_call
cat $R/ab2b.log $R/abfp8kv.log
