# Planned by the forty-sixth session (warm after call 2, BUDGET=560): the 2b table of every real recipe in one run on
# the default as it then stands (int4 q/k/v triggers early since bdfed38: its int4_awq row and the README's 2b rows
# were measured before it or in a run cut short; adopt calls 1-2's winners first).
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log
