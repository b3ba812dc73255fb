# Fifty-first session, warm (BUDGET=200): call 3's 2b int4_wo unmasked A/B again, with int4_awq.
. benchmarks/device_call.sh; RECIPE=int4_wo,int4_awq decode_ab unmasked_2b qwen2-vl-2b 1 VLMQ_GEMV_UNMASKED "0;1" 150; finish_call; cat $R/unmasked_2b/ab.md || cat $R/*.log
