# Planned (twenty-seventh session, not yet run): RoPE's bf16 roundings by the GPU's conversion in the fused decode
# attention ($VLMQ_ATTENTION_PLAN=rounding=1; the default rounds in integers) A/B'd on the 2b BF16 step at batch 1
# and 16 and the 7b at batch 1 -- its exactness cases passed in the twenty-sixth session (call 6) and every real
# recipe's engines with it in the twenty-seventh (call 2, 9 passed), its step was level at batch 1 and 0.994x at
# batch 16 once. Make it the default if not slower (then the rope + KV-write kernel may take it too, with its
# bit-exact GPU cases run again). Then the rows the twenty-seventh session's 2b table did not reach: the 4-bit rows
# beside BF16.
. benchmarks/device_call.sh
bf16_ab ab2b qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN 'default;rounding=1' 110
bf16_ab ab7b qwen2-vl-7b 1 VLMQ_ATTENTION_PLAN 'default;rounding=1' 80
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 12 )) 2>&1 | grep -v "$F" | tail -10 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
cat $R/ab2b/ab.md $R/ab7b/ab.md $R/speed2b.log
