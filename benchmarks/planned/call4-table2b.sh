# Planned by the forty-ninth session (BUDGET=560, warm after call 3): the 2b table of every real recipe on the default
# as calls 1-3 left it (the README's 2b columns are the forty-eighth session's, before the deferred RMSNorm: A/Bs
# bf16 0.992x, int8_wo 0.986x, int4_wo 0.982x / 0.994x for gate/up / q/k/v apart). --budget-s exports what finished.
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b int4_wo,int8_wo,bf16,fp8,smoothquant,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log
