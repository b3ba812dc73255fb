# Twenty-sixth session, call 6 (ran as `BUDGET=385 CALL=z6 bash <this file>`; the device time left capped it at 372 s, so test_gpu_engines.py was cut and the bf16 row never ran): RoPE's bf16 roundings by the GPU's conversion (cvt.rn.bf16x2.f32; the default
# rounding=1) in the fused decode attention and the rope + KV-write kernel. Exactness first (both roundings against
# PyTorch's cast on 4M hard values; the rope kernel bit-exact against eager; the fused attention's two roundings
# bit-identical; its rounding=0 context cases), then the 2b BF16 step A/B'd against rounding=0, then every real
# recipe's greedy answers (eager = compiled), then, with what time is left, the 2b BF16 row alone (its bar).
. benchmarks/device_call.sh
timeout 100 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_kernels_gpu.py \
    tests/engine/test_attention_gpu.py -k "roundings_are_the_cast or rope_kv_write_is_bit_exact or rounds_rope_the_same or rounding0" \
    2>&1 | grep -v "$F" | grep -v "^$" | tail -6 > $R/exact.log; echo "exact rc ${PIPESTATUS[0]} at $(since) s" >> $R/exact.log
timeout 90 python3 benchmarks/bench_decode_ab.py --out $R/abround --model qwen2-vl-2b --recipes bf16 \
    --batch-sizes 1,16 --env VLMQ_ATTENTION_PLAN --variants 'default;rounding=0' --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/abround.log; echo "abround rc ${PIPESTATUS[0]} at $(since) s" >> $R/abround.log
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py \
    2>&1 | grep -v "$F" | grep -v "^$" | tail -6 > $R/engines.log; echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
if [ "$(left)" -gt 90 ]; then
    timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16 \
        --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 12 )) 2>&1 \
        | grep -v "$F" | tail -6 > $R/speed2b.log; echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
fi
finish_call
cat $R/exact.log $R/abround/ab.md $R/engines.log; cat $R/speed2b.log 2>/dev/null
