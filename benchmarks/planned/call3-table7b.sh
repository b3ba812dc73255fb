# Planned by the forty-seventh session, kept by the forty-eighth and forty-ninth (BUDGET=560, warm after call 4, or the
# first call of a later session; the 7b table took 384 s there): the 7b table of every real recipe on the default as it now stands (BF16's q/k/v and down_proj on the CUDA
# cores trigger early since the forty-seventh / forty-eighth sessions: one-process A/Bs 0.996x / 0.995x; the README's
# 7b columns predate both) in one run; `--budget-s` exports what finished (bf16 and int4 first: the rows nearest a bar,
# the int4 TTFT tie).
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int4_wo,int4_awq,int8_wo,fp8,smoothquant $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
