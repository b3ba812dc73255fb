# Planned by the forty-seventh session (BUDGET=560 from a cold start): the launch and RMSNorm knobs not A/B'd since
# every q/k/v on the CUDA cores triggers early (the decode attention loads its cache blocks before its PDL wait, so
# what each trigger overlaps moved): BF16's o / gate/up / down early at batch 1 (o measured slower in the sixteenth
# session, before), int8 gate/up's RMSNorm first on the 2b (1.006x in the thirty-first session; int4's is now the
# default), fp8's o / gate/up / down early at batch 16 (the tensor-core tiles). First the BF16 lm_head's early trigger
# on the quantized recipes, never measured alone (it came with bf16 q/k/v's, aa32b89): the default against every
# other MEASURED_EARLY case. Adopt a change only after the engines' GPU test passes with it
# (tests/recipes/test_gpu_engines.py -k <recipe>, with the setting exported).
. benchmarks/device_call.sh
# the forty-seventh session's last defaults (BF16 lm_head early, int8 lm_head late) end to end on every real recipe
gpu_tests engines 170 tests/recipes/test_gpu_engines.py
RECIPE=int4_wo,int8_wo,fp8 decode_ab lmhead_2b qwen2-vl-2b 1 VLMQ_PDL_TRIGGER \
    'measured;qkv:bf16,qkv:int4:sum,o:int4:sum,qkv:int8,qkv:fp8,o:fp8:sum' 130
decode_ab bf16_2b qwen2-vl-2b 1 VLMQ_PDL_TRIGGER 'measured;measured,o:bf16;measured,gate_up:bf16;measured,down:bf16' 100
RECIPE=int8_wo decode_ab norm2b_int8 qwen2-vl-2b 1 VLMQ_NORM_FIRST 'measured;gate_up' 60
RECIPE=fp8 decode_ab fp8_b16 qwen2-vl-2b 16 VLMQ_PDL_TRIGGER 'measured;measured,o:fp8;measured,gate_up:fp8;measured,down:fp8' \
    $(( $(left) - 8 ))
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines.log | tail -6
for f in lmhead_2b bf16_2b norm2b_int8 fp8_b16; do cat $R/$f/ab.md 2>/dev/null || cat $R/$f.log; done
