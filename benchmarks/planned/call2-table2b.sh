# Planned by the forty-sixth session (warm after call 1, BUDGET=560): the 2b table of every real recipe in one run on
# the default as it then stands (int4 q/k/v triggers early since bdfed38: its int4_awq row and the README's 2b rows
# were measured before it or in a run cut short). First, the bound on an RMSNorm made once by the producer's last
# program (docs/benchmarks.md, forty-sixth session): the 2b int4 RMSNorms run first by normalize_rows against in the
# prologue, on this default (the thirty-first session's: gate/up's first level, 0.999x; both 1.026x).
. benchmarks/device_call.sh
RECIPE=int4_wo decode_ab norm2b_int4 qwen2-vl-2b 1 VLMQ_NORM_FIRST 'measured;gate_up;qkv,gate_up' 60
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/norm2b_int4/ab.md $R/speed2b.log
