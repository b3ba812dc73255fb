# Planned by the forty-fourth session (BUDGET=585 from a cold start, `.whl/` carried; no CUTLASS library needed: decode
# only), on the engine with the fused decode attention at 4 warps over BF16 caches (2 over FP8 ones; call 2's BF16 A/B):
# (1) issue 17's long-context point with it (`vlmq run --tasks speed-long`: 8192 cached tokens x batch 16, bf16 against
# bf16+kv_fp8; the bar: FP8 KV still faster than BF16 KV; the seventeenth session's 2.821 / 2.646 ms/token); (2) the
# FP8-cache kernel's warps in whole decode steps (2b bf16+kv_fp8, batch 1 and 16, 2 vs 4 warps); (3) the kernel alone at
# 300 and 8192 tokens, batch 1 and 16, BF16 and FP8 caches, every candidate plan (`bench_attention.py`, 2 and 4 warps
# among them) with what is left.
. benchmarks/device_call.sh
timeout 230 python3 -m vlmq run --model qwen2-vl-2b --recipes bf16,bf16+kv_fp8 --tasks speed-long --launcher subprocess \
    --baseline bf16 --quiet --fresh --out $R/long 2>&1 | grep -v "$F" | tail -12 > $R/long.log
echo "long rc ${PIPESTATUS[0]} at $(since) s" >> $R/long.log
RECIPE=bf16+kv_fp8 decode_ab abfp8kv qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN 'warps=2;warps=4' 170
timeout $(( $(left) - 8 )) python3 benchmarks/bench_attention.py --out $R/attn --sections attention --contexts 300,8192 \
    --batches 1,16 2>&1 | grep -v "$F" | tail -20 > $R/attn.log
echo "attn rc ${PIPESTATUS[0]} at $(since) s" >> $R/attn.log
finish_call
grep -h "decode_ms_per_token" $R/long/results.jsonl | python3 -c "
import sys, json
for line in sys.stdin:
    r = json.loads(line); print(r['recipe'], r['task'], round(r['value'], 3), round(r['ci_low'], 3), round(r['ci_high'], 3))"
cat $R/long.log $R/abfp8kv.log $R/attn.log
