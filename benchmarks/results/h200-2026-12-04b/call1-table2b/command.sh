# (Run from benchmarks/planned/ as BUDGET=560 CALL=b1: the forty-second session's call 1, 410 s from a cold start, at 6c982f2: the whole 2b table.)
# Planned by the forty-first session (BUDGET=560, from a cold start, carrying .whl and build/packed; alone: that
# session's 2b table stopped after three recipes at 280 s on a cold machine): the 2b table of every real recipe in one
# run with $VLMQ_FRAG_ROWS on (the default since 574c5a0; the README's 2b columns predate it), then check_bars.py
# <long> <this> benchmarks/results/h200-2026-12-04a/call4-table7b/speed7b/results.jsonl.
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log
