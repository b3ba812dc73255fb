# Planned by the forty-seventh session (BUDGET=560, warm after call 1): the 2b table of every real recipe on the default
# as aa32b89 left it (bf16 q/k/v on the CUDA cores early, int4 gate/up's RMSNorm first), then the batch-1 per-step
# profiles of bf16 and int4_wo on it; `--budget-s` exports what finished.
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b bf16,int4_wo,int4_awq,int8_wo,fp8,smoothquant $(( $(left) - 150 ))
speed_table prof2b qwen2-vl-2b bf16,int4_wo $(( $(left) - 8 )) --tasks speed-profile --batch-sizes 1
finish_call
cat $R/speed2b.log $R/prof2b.log
