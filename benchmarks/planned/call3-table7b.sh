# Planned by the forty-seventh session (warm after call 2, BUDGET=560): the 7b table of every real recipe on the same
# default in one run; `--budget-s` exports what finished (bf16 and int4 first: the rows nearest a bar, the int4 TTFT tie).
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int4_wo,int4_awq,int8_wo,fp8,smoothquant $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
