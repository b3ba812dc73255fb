# Planned (twenty-second session, not yet run): the fused decode attention's plan A/B'd in whole decode steps
# ($VLMQ_ATTENTION_PLAN, read as the op launches), then the plans in isolation with caches that come from HBM
# (bench_attention.py --cold-mb) against the old L2-resident measure. Why: the plan (splits, warps, blocks loaded
# before the PDL wait) was chosen in bench_attention.py over 28 layer caches, ~8 MB that stay in L2, while in a step
# each layer's cache comes from HBM: there the attention adds ~10.6 us a layer (2b, 300 tokens) against 6.75 in
# isolation, and loading a split's second block before the wait ("prefetch=2", measured slower in isolation) saves
# a dependent HBM round trip. A plan that wins becomes the default only after test_attention_gpu.py and
# test_gpu_engines.py pass with it.
. benchmarks/device_call.sh
V='default;prefetch=2;splits=3,prefetch=2;splits=4;warps=4;splits=12'
timeout $(( $(left) - 250 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b \
    --recipes bf16,int4_wo --batch-sizes 1,16 --env VLMQ_ATTENTION_PLAN --variants "$V" --rounds 3 2>&1 \
    | grep -v "$F" | tail -28 > $R/ab2b.log; echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
timeout $(( $(left) - 130 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes bf16 \
    --batch-sizes 1 --env VLMQ_ATTENTION_PLAN --variants 'default;prefetch=2;splits=3,prefetch=2;warps=4' --rounds 3 \
    2>&1 | grep -v "$F" | tail -10 > $R/ab7b.log; echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_attention.py --out $R/attn_cold --sections attention --contexts 300 \
    --batches 1,16 --cache-lengths 372 --cold-mb 256 2>&1 | grep -v "$F" | tail -12 > $R/attn_cold.log
echo "attn_cold rc ${PIPESTATUS[0]} at $(since) s" >> $R/attn_cold.log
finish_call
cat $R/ab2b/ab.md $R/ab7b/ab.md 2>/dev/null; tail -n 14 $R/attn_cold.log
