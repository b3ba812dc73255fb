# Planned by the forty-sixth session (warm after call 3, BUDGET=560): the 7b table on the same default (its int4 rows
# predate bdfed38's trigger: 2.106 / 2.098 ms/token in the table, 2.036 / 2.031 in the A/B), every real recipe in one
# run; `--budget-s` exports what finished if the time runs out (int4 first: the rows that moved).
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int4_wo,int4_awq,int8_wo,fp8,smoothquant $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
