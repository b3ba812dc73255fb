# Planned (twenty-fourth session, not yet run): what changed on the default path after that session's last device
# call, checked on the GPU before anything is timed: the combine's code moved into one_tile_step (same operations,
# same instruction count on sm_90 under Triton 3.6), the trace's stamps (off by default), and the vision tower's
# one-pass LayerNorms (its own test ran in that session's call 4). So: eager = compiled greedy answers for every real
# recipe on the toy (test_gpu_engines.py whole, ~295 s), then the fused attention's context cases, the default
# combine's among them, against the reference (both presets' heads).
. benchmarks/device_call.sh
timeout 330 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py 2>&1 \
    | grep -v "$F" | grep -v "^$" | tail -6 > $R/engines.log; echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_attention_gpu.py \
    -k "follows_the_context or replays_from_a_cuda_graph" 2>&1 | grep -v "$F" | grep -v "^$" | tail -6 > $R/attention.log
echo "attention rc ${PIPESTATUS[0]} at $(since) s" >> $R/attention.log
finish_call
cat $R/engines.log $R/attention.log
