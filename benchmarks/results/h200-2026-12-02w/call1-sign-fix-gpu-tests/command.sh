# Planned (twenty-third session, not yet run): the rotation's sign fix on the GPU. rope_kv_triton.rotate_rows now
# flips sin's sign by a product (Triton 3.6 compiles a float's unary minus as 0 - x, which made a rotated -0 at
# angle 0 where eager gives +0: the H200's one differing K byte, twenty-third session call 4). Every kernel that
# rotates runs through it (the RoPE + KV write, the fused decode attention, the prefill's), so: the attention-side
# GPU tests (test_attention_gpu.py, ~300 s; the signed-zero test is no longer marked xfail: it must pass at 2b
# 2 x 300 now), then eager = compiled greedy answers on the toy for BF16 and an int4 recipe.
. benchmarks/device_call.sh
timeout 380 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_attention_gpu.py 2>&1 \
    | grep -v "$F" | grep -v "^$" | tail -12 > $R/attention.log
echo "attention rc ${PIPESTATUS[0]} at $(since) s" >> $R/attention.log
timeout $(( $(left) - 5 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py \
    -k "bf16-attention or int4_wo-attention" 2>&1 | grep -v "^$" | tail -6 > $R/engines.log
echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
finish_call
tail -n 8 $R/attention.log; tail -n 3 $R/engines.log
