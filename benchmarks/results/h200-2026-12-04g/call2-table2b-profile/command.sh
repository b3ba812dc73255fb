# Planned by the forty-seventh session, amended by the forty-eighth (BUDGET=560): the engines' GPU test on BF16 with
# bf16 down_proj early at batch 1 (call 1: 0.992x, adopted in the working tree), then the 2b table of every real
# recipe on the default as it then stands, then the batch-1 per-step profiles of bf16 and int4_wo on it;
# `--budget-s` exports what finished.
. benchmarks/device_call.sh
gpu_tests engines_bf16 100 tests/recipes/test_gpu_engines.py -k bf16
speed_table speed2b qwen2-vl-2b bf16,int4_wo,int4_awq,int8_wo,fp8,smoothquant $(( $(left) - 130 ))
speed_table prof2b qwen2-vl-2b bf16,int4_wo $(( $(left) - 8 )) --tasks speed-profile --batch-sizes 1
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines_bf16.log | tail -4
cat $R/speed2b.log $R/prof2b.log
