# Planned by the thirty-sixth session (BUDGET=240), to run right after call3 while the machine is warm, only if its
# 7b int4_wo first-token A/B found VLMQ_PREFILL_PREPARE=shuffle faster than side outside the spreads: the 7b table
# of BF16 and the int4 recipes with it (issue 16's 7b int4 TTFT bars, ties at 1.201x / 1.204x BF16's against
# <= 1.2x in the thirty-second session's table, judged on one run).
. benchmarks/device_call.sh
export VLMQ_PREFILL_PREPARE=shuffle
speed_table speed7b qwen2-vl-7b bf16,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
