# Planned by the forty-ninth session (BUDGET=560, warm after call 1). (1) The engines' GPU test on every real recipe
# on the default as it then stands: the RMSNorm deferred by the measured rule (gemv.NORM_DEFER_MEASURED: 2b bf16
# q/k/v, int8 gate/up, int4 q/k/v and gate/up; checked on the GPU so far only with every deferrable norm deferred, a
# superset: the forty-ninth session's call 1, 12 passed) and whatever table call 1 adopted. (2) The deferral where the
# forty-ninth session's call 1 measured it only all together: the lm_head's (BF16 on every recipe) on top of the
# measured rule on the 2b, and the 7b per projection (all three: int4_wo 0.986x, int8_wo 1.007x; the rule defers none
# there). Adopt: extend NORM_DEFER_MEASURED where a variant is faster (then its engines test: -k for those recipes).
. benchmarks/device_call.sh
gpu_tests engines 200 tests/recipes/test_gpu_engines.py
RECIPE=bf16,int8_wo,int4_wo decode_ab split_2b qwen2-vl-2b 1 VLMQ_NORM_DEFER \
    'measured;qkv,lm_head;gate_up,lm_head;qkv,gate_up,lm_head' 110
RECIPE=int4_wo,int8_wo decode_ab split_7b qwen2-vl-7b 1 VLMQ_NORM_DEFER 'measured;qkv;gate_up;lm_head'
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/engines.log | tail -6
for f in split_2b split_7b; do cat $R/$f/ab.md 2>/dev/null || cat $R/$f.log; done
