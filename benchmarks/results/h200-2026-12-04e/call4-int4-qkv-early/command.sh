# Forty-sixth session, call 4 (BUDGET=560, from a cold start): int4 q/k/v on the CUDA cores triggering early, now in
# pdl.MEASURED_EARLY (call 3: 2b int4_wo batch 1 0.914 -> 0.852 ms/token), A/B'd against the set before it (listed by
# hand as the first variant) on both int4 recipes of both presets at batch 1, a process each; fp8's two level early
# triggers of call 3 together; then the engines' GPU tests (eager = compiled greedy answers of every real recipe on
# the toy) on the new default, and the 2b table's BF16 and int4 rows on it (bench_speed.py, 2 repeats).
. benchmarks/device_call.sh
OLD='qkv:bf16:dot,o:int4:sum,qkv:int8:sum,qkv:int8:dot,qkv:fp8:dot'
RECIPE=int4_wo,int4_awq decode_ab qkv4_2b qwen2-vl-2b 1 VLMQ_PDL_TRIGGER "$OLD;measured" 70
RECIPE=int4_wo,int4_awq decode_ab qkv4_7b qwen2-vl-7b 1 VLMQ_PDL_TRIGGER "$OLD;measured" 130
RECIPE=fp8 decode_ab fp8_2b qwen2-vl-2b 1 VLMQ_PDL_TRIGGER 'measured;measured,qkv:fp8:sum,o:fp8:sum' 60
gpu_tests engines 170 tests/recipes/test_gpu_engines.py
speed_table speed2b qwen2-vl-2b bf16,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
for f in qkv4_2b qkv4_7b fp8_2b; do cat $R/$f/ab.md; done
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines.log | tail -8; cat $R/speed2b.log
