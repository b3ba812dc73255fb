# Planned by the forty-fourth session (BUDGET=585 from a cold start, `.whl/` carried; decode only; first of its queue:
# what it finds may change the attention's default, which the later calls then check and time). Two parts.
# Part 1 (~300 s, `long_point` of device_call.sh) -- the leads its kernel-alone tables
# and the sm_90 SASS left at the long point (2b, 8192 cached tokens x batch 16, `vlmq run --tasks speed-long`, 3
# repeats each). (a) BF16 with `targets=512`: the unfused kernel at 512 programs took 43.5 us a layer against the fused
# kernel's 46.8 (256 programs, 4 warps, 3 stages). (b) The FP8 cache at 4 warps with fewer programs: at 4 warps (200
# registers a thread, 3 stages) two programs fit an SM, so its 512-program plan (15 splits x 32 heads = 480 programs)
# runs in two waves on 132 SMs, where 2 warps (255 registers) fit four and one wave -- the likely reason 4 warps lost
# there (2.696 against 2.553 ms/token) while winning every short case (batch 1 0.889x); at `targets=256` (8 splits,
# 256 programs) or 128 it is one wave. If one of them beats BF16's figure of the same call, FP8 caches can take 4 warps
# everywhere with that target (attention.attention_warps, ATTN_TARGET_PROGRAMS).
# Part 2 (~300 s) -- 8 warps a program for the fused decode attention
# at the workload's 300-token context. The sixth session measured 8 warps 2.2x slower than 2 on its kernel, but 4 warps
# also lost then and win now (2b BF16 batch 1 0.960x); the sm_90 SASS (CPU, Triton 3.6, 2b heads) at 8 warps issues
# fewer instructions a warp again in every phase but one (BF16: start 353 -> 258, blocks 837 -> 560, combine 563 ->
# 468; FP8: blocks 2162 at 2 warps -> 783, no spill at 205 registers), at more cross-warp barriers. Whole steps:
# BF16 2b batch 1 and 16 (default 4 against 8), then the FP8 cache at batch 1 (default 2 against 4 and 8).
. benchmarks/device_call.sh
for CASE in "bf16 default" "bf16 targets=512" "bf16+kv_fp8 default" "bf16+kv_fp8 warps=4,targets=256" \
    "bf16+kv_fp8 warps=4,targets=128"; do
    set -- $CASE
    long_point "long_$(echo "$1_$2" | tr '+=,' '_-_')" "$1" "$2"
done
bf16_ab ab2b qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN 'default;warps=8' 170
RECIPE=bf16+kv_fp8 decode_ab abfp8kv qwen2-vl-2b 1 VLMQ_ATTENTION_PLAN 'default;warps=4;warps=8'
finish_call
for f in $R/long_*/results.jsonl; do grep -h decode_ms_per_token $f | python3 -c "
import sys, json
for line in sys.stdin:
    r = json.loads(line); print('$f', r['recipe'], round(r['value'], 3), round(r['ci_low'], 3), round(r['ci_high'], 3))"; done
cat $R/long.log
cat $R/ab2b.log $R/abfp8kv.log
