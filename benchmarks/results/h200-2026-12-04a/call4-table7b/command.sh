# (Run from benchmarks/planned/ as BUDGET=590 CALL=a4: the forty-first session's call 4, 410 s warm after call 3, at 574c5a0: the whole 7b table.)
# Planned by the forty-first session (warm after call 3, BUDGET = what is left less ~10 s): the 7b table of every real
# recipe in one run with $VLMQ_FRAG_ROWS on by default (call 1's A/B: 7b int4 batch 16 0.983 / 0.984x).
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
