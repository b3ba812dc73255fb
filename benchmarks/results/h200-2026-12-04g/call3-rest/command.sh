# Forty-eighth session (BUDGET=560), after call 2's engines test timed out at 100 s (each engines test compiles for
# ~110 s on a fresh machine) and its table stopped after three recipes: the engines' GPU test on BF16 with bf16
# down_proj early at batch 1 (the default since this session's first commit), the 2b table's other recipes, then the
# same trigger's A/B on the 7b's BF16 step (the old early set against the new default).
. benchmarks/device_call.sh
gpu_tests engines_bf16 175 tests/recipes/test_gpu_engines.py -k bf16
speed_table speed2b_rest qwen2-vl-2b int8_wo,fp8,smoothquant $(( $(left) - 120 ))
decode_ab bf16down_7b qwen2-vl-7b 1 VLMQ_PDL_TRIGGER 'qkv:bf16,lm_head:bf16:sum;measured'
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines_bf16.log | tail -4
cat $R/speed2b_rest.log $R/bf16down_7b/ab.md 2>/dev/null || cat $R/bf16down_7b.log
