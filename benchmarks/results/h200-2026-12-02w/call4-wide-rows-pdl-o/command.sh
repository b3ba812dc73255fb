# The fused vision tower's LayerNorms reduced in one pass now by default (call 3: 3.774 ms against 3.830 looped, in
# isolation): its GPU test (compiled, graphed, against fp32), then the 2b BF16 row as the table times it (vision and
# TTFT); then the early PDL trigger of the BF16 o_proj on the 7b (call 3 on the 2b: 1.277 -> 1.271 ms/token, where
# the sixteenth session's old tiles measured it slower), before it becomes a default for both presets.
. benchmarks/device_call.sh
timeout 170 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_attention_gpu.py \
    -k fused_vision_tower 2>&1 | grep -v "$F" | grep -v "^$" | tail -6 > $R/vision_test.log
echo "vision test rc ${PIPESTATUS[0]} at $(since) s" >> $R/vision_test.log
timeout 120 python3 benchmarks/bench_decode_ab.py --out $R/pdl7b --model qwen2-vl-7b --recipes bf16 --batch-sizes 1 \
    --env VLMQ_PDL_TRIGGER --variants 'measured;o' --rounds 3 2>&1 | grep -v "$F" | tail -8 > $R/pdl7b.log
echo "pdl7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/pdl7b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16 \
    --batch-sizes 1 --repeats 3 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 \
    | grep -v "$F" | tail -6 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
cat $R/vision_test.log $R/pdl7b.log $R/speed2b.log
