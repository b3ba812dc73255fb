# Twenty-seventh session, call 2: the greedy-advance kernel's GPU test (call 1 could not import its cases); does the speed task's HF eager baseline (run before a BF16 recipe's engine) move
# the engine's decode figure (hf_order.py, beside this file); then every real recipe end to end (eager = compiled
# greedy answers on the toy) with the one-kernel greedy advance (the default now) and RoPE's hardware rounding
# (VLMQ_ATTENTION_PLAN=rounding=1, the twenty-sixth session's candidate) for the whole pytest process.
. benchmarks/device_call.sh
D=benchmarks/results/h200-2026-12-02z/call2-order
timeout 100 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_fused_gpu.py -k greedy \
    2>&1 | grep -v "$F" | tail -15 > $R/greedy_test.log
echo "greedy test rc ${PIPESTATUS[0]} at $(since) s" >> $R/greedy_test.log
timeout 200 python3 $D/hf_order.py 1 2>&1 | grep -v "$F" | tail -8 > $R/hf_order.log
echo "hf_order rc ${PIPESTATUS[0]} at $(since) s" >> $R/hf_order.log
VLMQ_ATTENTION_PLAN=rounding=1 timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider \
    --tb=short tests/recipes/test_gpu_engines.py 2>&1 | grep -v "$F" | grep -v "^$" | tail -8 > $R/engines.log
echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
finish_call
cat $R/greedy_test.log $R/hf_order.log $R/engines.log
