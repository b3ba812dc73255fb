# Planned by the forty-ninth session (BUDGET=560, warm after call 1): the engines' GPU test on every real recipe on the
# default as it now stands -- the RMSNorm deferred by the measured rule (gemv.NORM_DEFER_MEASURED: 2b bf16 q/k/v,
# int8 gate/up, int4 q/k/v and gate/up; end to end on the GPU so far only with every deferrable norm deferred, the
# forty-ninth session's call 1: 12 passed) -- then the 2b table of every real recipe on it (the README's 2b columns
# predate it: A/Bs 0.992x bf16, 0.986x int8_wo, int4_wo 0.994x / 0.982x for q/k/v / gate/up apart). Where call 1 adopted
# more (the 2b lm_head, the 7b pairs, fp8 tiles), this is the check of those too.
. benchmarks/device_call.sh
gpu_tests engines 200 tests/recipes/test_gpu_engines.py
speed_table speed2b qwen2-vl-2b int4_wo,int8_wo,bf16,int4_awq,fp8,smoothquant $(( $(left) - 8 ))
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines.log | tail -6
cat $R/speed2b.log
