# Planned by the forty-ninth session, kept by the fifty-first (BUDGET=560, warm after call 1): the 2b table of every
# real recipe on the default as call 1 leaves it (the README's 2b columns are the forty-eighth session's, before the
# deferred RMSNorm -- A/Bs bf16 0.992x, int8_wo 0.986x, int4_wo 0.982x / 0.994x for gate/up / q/k/v apart -- and the
# fifty-first's defaults: int4 unmasked 0.974-0.978x, smoothquant forward 0.982-0.985x). --budget-s exports what
# finished.
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b int4_wo,int8_wo,bf16,fp8,smoothquant,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log
