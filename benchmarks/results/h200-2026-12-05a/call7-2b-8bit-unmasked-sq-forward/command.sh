# Fifty-first session, warm (BUDGET=200): the unmasked loads on the 2b bf16 and int8_wo steps, and call 2's smoothquant
# forward A/B again (its runners rebuilt).
. benchmarks/device_call.sh; RECIPE=bf16,int8_wo decode_ab unmasked_2b_8 qwen2-vl-2b 1 VLMQ_GEMV_UNMASKED "0;1" 80; RECIPE=smoothquant AB_FLAGS=--rebuild decode_ab forward_sq qwen2-vl-2b 1 VLMQ_W8A8_ROW_MAX "gate_up;forward"; finish_call; cat $R/unmasked_2b_8/ab.md $R/forward_sq/ab.md || cat $R/*.log
