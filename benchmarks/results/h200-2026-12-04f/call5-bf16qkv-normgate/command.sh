# Forty-seventh session, last device call (BUDGET=440 from a cold start, `.whl/` and `build/packed/` carried): two
# leads left on the 2b batch-1 step. (1) BF16 q/k/v on the CUDA cores triggering early (batch 1): int8, int4 and fp8
# q/k/v early each made the decode attention, launched while q/k/v streams, cheaper (it loads its cache blocks before
# its PDL wait); bf16's one-row q/k/v never A/B'd that way. (2) The 2b int4 gate/up RMSNorm first (normalize_rows)
# instead of in its prologue: 0.994x in call 2 (3 rounds), 0.999x in the thirty-first session: 5 rounds, both int4
# recipes. The engines' GPU test (eager = compiled greedy answers) under both settings first.
. benchmarks/device_call.sh
VLMQ_PDL_TRIGGER=measured,qkv:bf16:sum VLMQ_NORM_FIRST=gate_up gpu_tests engines 150 \
    tests/recipes/test_gpu_engines.py -k "bf16 or int4"
decode_ab bf16qkv_2b qwen2-vl-2b 1 VLMQ_PDL_TRIGGER 'measured;measured,qkv:bf16:sum' 60
decode_ab bf16qkv_7b qwen2-vl-7b 1 VLMQ_PDL_TRIGGER 'measured;measured,qkv:bf16:sum' 80
AB_ROUNDS=5 RECIPE=int4_wo,int4_awq decode_ab norm2b_int4 qwen2-vl-2b 1 VLMQ_NORM_FIRST 'measured;gate_up' \
    $(( $(left) - 8 ))
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines.log | tail -6
for f in bf16qkv_2b bf16qkv_7b norm2b_int4; do cat $R/$f/ab.md 2>/dev/null || cat $R/$f.log; done
