# Planned by the forty-fourth session (BUDGET=560 from a cold start, or what is left warm after call 2; `.whl/` and
# `build/packed/` carried): the 2b table of every real recipe in one run on the new decode-attention default (the
# README's figures predate it; the session's A/B put the 2b BF16 batch-1 step at 1.193 ms/token, 1.243 before), then
# `check_bars.py benchmarks/results/h200-2026-12-04c/call5-long-stages3/long_fp8/results.jsonl <this> <the 7b's>`
# (the long point's BF16 record is `call5-long-stages3/long_bf16/results.jsonl`: pass both).
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log
