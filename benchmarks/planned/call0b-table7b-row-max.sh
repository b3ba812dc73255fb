# Planned by the thirty-sixth session (BUDGET=400): the 7b table, every real recipe in one run, with the row maxima
# the default (its smoothquant batch-1 step 0.981x in the session's A/B; its FP8 down_proj takes a tensor-core tile at
# one row, so fp8 is unchanged).
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
