# (Run from benchmarks/planned/ as BUDGET=560 CALL=a1: the thirty-eighth session's call 1, 450 s from a cold start; all six recipes in one run.)
# Planned by the thirty-seventh session (BUDGET=560, from a cold start): the 2b table of every real recipe in one run
# (that session's ran in two: its 330 s on a bare machine covered four recipes with their compiles), so each bar that
# compares two 2b recipes is judged within one run; check_bars.py <long> <this> <the 7b table of h200-2026-12-03ai>.
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log
