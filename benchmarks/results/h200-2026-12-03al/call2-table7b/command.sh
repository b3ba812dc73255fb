# (Run from benchmarks/planned/ as BUDGET=560 CALL=al2: the fortieth session's call 2, 345 s warm after call 1, at 5d0d947.)
# Planned by the thirty-ninth session (BUDGET=420, warm after call 2 or from a cold start at ~540): the 7b table of
# every real recipe in one run on 70ac1fb or later (7b int4_wo 0.961-0.965x int8_wo at batch 16 in the recipe A/B of
# results/h200-2026-12-03ak; the README's 7b table is the thirty-seventh session's, before the change).
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
