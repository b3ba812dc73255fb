# Fifty-first session, warm (BUDGET=300): the 7b int4_wo step with $VLMQ_GEMV_UNMASKED 0 / 1, then (unmasked) the 7b
# RMSNorm deferral of q/k/v and gate/up together, each of which call 3 measured 0.993x alone.
. benchmarks/device_call.sh; RECIPE=int4_wo decode_ab unmasked_7b qwen2-vl-7b 1 VLMQ_GEMV_UNMASKED "0;1" 130; VLMQ_GEMV_UNMASKED=1 RECIPE=int4_wo decode_ab defer_7b qwen2-vl-7b 1 VLMQ_NORM_DEFER "measured;qkv,gate_up"; finish_call; cat $R/unmasked_7b/ab.md $R/defer_7b/ab.md || cat $R/*.log
