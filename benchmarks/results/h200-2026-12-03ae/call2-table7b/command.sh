# Thirty-second session, call B (~500 s warm): every 7b recipe at batch 1 and 16 in one bench_speed run (the default
# the thirty-first session shipped: q/k/v early for int8 / fp8 weights), so the 7b bars judge one run too.
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
