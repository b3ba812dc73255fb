# Forty-eighth session (BUDGET=400, from a cold start): the 2b batch-1 per-step profiles of the quantized recipes on
# this session's default (call 2 profiled BF16 only before its budget ran out): int4_wo (six kernels a layer since
# int4 gate/up's RMSNorm runs first), int8_wo, fp8 -- what the closing note shows for the batch-1 bars not met.
. benchmarks/device_call.sh
speed_table prof2b_q qwen2-vl-2b int4_wo,int8_wo,fp8 $(( $(left) - 8 )) --tasks speed-profile --batch-sizes 1
finish_call
cat $R/prof2b_q.log
grep -A12 "speed-profile:" $R/prof2b_q/profiles.md | head -60
