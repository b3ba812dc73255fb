# Forty-sixth session, call 5 (BUDGET=300, warm after call 4, the session's last device time): what call 4's limits
# cut -- the engines' GPU test it did not reach (int4_wo with the o_proj-over-attention op) and the 2b int4_awq A/B of
# int4 q/k/v triggering early (its int4_wo one: 0.913 -> 0.856 ms/token).
. benchmarks/device_call.sh
gpu_tests engines 150 tests/recipes/test_gpu_engines.py -k "int4_wo-o_proj"
OLD='qkv:bf16:dot,o:int4:sum,qkv:int8:sum,qkv:int8:dot,qkv:fp8:dot'
RECIPE=int4_awq decode_ab qkv4awq_2b qwen2-vl-2b 1 VLMQ_PDL_TRIGGER "$OLD;measured" $(( $(left) - 8 ))
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines.log | tail -8; cat $R/qkv4awq_2b.log
