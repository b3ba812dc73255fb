# Planned by the forty-sixth session (BUDGET=560 from a cold start, `.whl/` and `build/packed/` carried): the launch
# triggers its A/Bs left open. (1) fp8's q/k/v and o on the CUDA cores early together (1.123 -> 1.112 ms/token, 0.990x,
# 2b batch 1): the engines' GPU test with that set first (eager = compiled greedy answers of every real recipe), then
# its A/B on both presets -- adopt (pdl.MEASURED_EARLY) only if both hold. (2) The decode attention early (o_proj's
# programs load their first weights while it runs), never A/B'd since the attention loads its blocks before its wait.
# (3) int4 gate/up and down early at batch 16 on the tensor-core tile (0.968x / 0.976x in the forty-sixth session's
# call 3, rounds spread 1.194-1.288): 5 rounds.
. benchmarks/device_call.sh
VLMQ_PDL_TRIGGER=measured,qkv:fp8:sum,o:fp8:sum gpu_tests engines_fp8 170 tests/recipes/test_gpu_engines.py -k fp8
RECIPE=fp8 decode_ab fp8_2b qwen2-vl-2b 1 VLMQ_PDL_TRIGGER 'measured;measured,qkv:fp8:sum,o:fp8:sum' 60
RECIPE=fp8 decode_ab fp8_7b qwen2-vl-7b 1 VLMQ_PDL_TRIGGER 'measured;measured,qkv:fp8:sum,o:fp8:sum' 90
RECIPE=bf16,int8_wo,int4_wo decode_ab attn_2b qwen2-vl-2b 1 VLMQ_PDL_TRIGGER 'measured;measured,attention' 90
AB_ROUNDS=5 RECIPE=int4_wo decode_ab b16_int4_2b qwen2-vl-2b 16 VLMQ_PDL_TRIGGER \
    'measured;measured,gate_up:int4:dot;measured,down:int4:dot' $(( $(left) - 8 ))
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines_fp8.log | tail -6
for f in fp8_2b fp8_7b attn_2b b16_int4_2b; do cat $R/$f/ab.md 2>/dev/null || cat $R/$f.log; done
