# Planned by the thirty-first session (~330 s + ~330 s warm): every 2b recipe at batch 1 and 16 in one run with the
# q/k/v triggers it made the default for 8-bit weights (only BF16 and SmoothQuant reached bench_speed before its
# device time ran out), then the 7b's 8-bit rows beside its BF16 -- the bars hold for one run.
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq 330
speed_table speed7b qwen2-vl-7b bf16,int8_wo,fp8,smoothquant $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log $R/speed7b.log
