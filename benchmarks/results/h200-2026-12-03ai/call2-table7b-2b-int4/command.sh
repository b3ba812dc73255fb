# (Run from benchmarks/planned/ as BUDGET=590 CALL=ai2: the thirty-seventh session's call 2, 534 s warm.)
# Thirty-seventh session (BUDGET=590, warm after call0): the 7b table (call0b's) and then the 2b int4 rows call0's table
# did not reach before its own budget (its run stopped after smoothquant).
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq 400
speed_table speed2b-int4 qwen2-vl-2b bf16,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log $R/speed2b-int4.log
