# Twenty-third session, call 1: every real recipe's eager = compiled greedy answers on the toy (test_gpu_engines.py
# whole: not run since exact_quotient's fma residual and the attention-plan knob), then the fused decode attention's
# plan ($VLMQ_ATTENTION_PLAN, read as the op launches) A/B'd in whole 2b and 7b decode steps, then the plans in
# isolation with caches that come from HBM (bench_attention.py --cold-mb). Why: the plan (splits, warps, blocks
# loaded before the PDL wait) was chosen in bench_attention.py over 28 layer caches, ~8 MB that stay in L2, while in a
# step each layer's cache comes from HBM: there the attention adds ~9.4-10.6 us a layer (2b, 300 tokens) against 6.75
# in isolation. Fewer splits with every block loaded before the wait (splits=3,prefetch=2) or none to combine
# (splits=1) trade the combine's barrier and atomic against more work a program.
. benchmarks/device_call.sh
timeout 300 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py 2>&1 \
    | grep -v "^$" | tail -8 > $R/engines.log; echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
V='default;splits=3;splits=3,prefetch=2;splits=2,prefetch=2;splits=1,prefetch=2,warps=4;warps=4'
timeout $(( $(left) - 140 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b \
    --recipes bf16 --batch-sizes 1,16 --env VLMQ_ATTENTION_PLAN --variants "$V" --rounds 3 2>&1 \
    | grep -v "$F" | tail -16 > $R/ab2b.log; echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
timeout $(( $(left) - 60 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes bf16 \
    --batch-sizes 1 --env VLMQ_ATTENTION_PLAN --variants 'default;splits=3,prefetch=2;splits=1,prefetch=2,warps=4' \
    --rounds 3 2>&1 | grep -v "$F" | tail -10 > $R/ab7b.log; echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_attention.py --out $R/attn_cold --sections attention --contexts 300 \
    --batches 1,16 --cache-lengths 372 --cold-mb 256 2>&1 | grep -v "$F" | tail -12 > $R/attn_cold.log
echo "attn_cold rc ${PIPESTATUS[0]} at $(since) s" >> $R/attn_cold.log
finish_call
tail -n 3 $R/engines.log; cat $R/ab2b/ab.md $R/ab7b/ab.md 2>/dev/null; tail -n 6 $R/ab2b.log $R/ab7b.log; tail -n 14 $R/attn_cold.log
