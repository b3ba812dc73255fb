# (Run from benchmarks/planned/ as BUDGET=560 CALL=al1: the fortieth session's call 1, 399 s from a cold start, at 5d0d947, carrying .whl and build/packed.)
# Planned by the thirty-ninth session (BUDGET=560, from a cold start): the 2b table of every real recipe in one run on
# 70ac1fb or later (the 16-row int4 tiles with their group values a K tile ahead: the README's table predates them),
# so check_bars.py judges the batch-16 "4-bit faster than 8-bit" bars on a table, not only on the recipe A/B of
# results/h200-2026-12-03ak (int4_wo 0.958-0.977x FP8 there); check_bars.py <long> <this> <the 7b table of call 3>.
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log
