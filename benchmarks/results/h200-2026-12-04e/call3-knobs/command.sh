# Forty-sixth session, call 3 (BUDGET=560, from a cold start): the launch knobs of the batch-1 steps whose bars are not
# met, on the engine as it now stands (the attention at 4 warps and 256 programs since 6d5b720; the triggers and the
# RMSNorm rule were last A/B'd in whole steps by the thirty-first session, before the attention's last nine changes).
# (1) $VLMQ_PDL_TRIGGER: each int4 / int8 / fp8 GEMV early beside pdl.MEASURED_EARLY (2b int4_wo at batch 1 and 16,
# int8_wo and fp8 at batch 1; 7b int4_wo at batch 1). (2) $VLMQ_NORM_FIRST on the 7b (the rule runs the RMSNorm of
# int8 / int4 GEMVs first at K > 2048, from the tenth session's kernel-alone timings): measured, none, each alone.
# bench_decode_ab.py: one process a (recipe, knob), 3 interleaved rounds, ms/token.
. benchmarks/device_call.sh
RECIPE=int4_wo decode_ab trig2b_int4 qwen2-vl-2b 1,16 VLMQ_PDL_TRIGGER \
    'measured;measured,qkv:int4;measured,gate_up:int4;measured,down:int4' 110
RECIPE=int8_wo decode_ab trig2b_int8 qwen2-vl-2b 1 VLMQ_PDL_TRIGGER \
    'measured;measured,o:int8;measured,gate_up:int8;measured,down:int8' 80
RECIPE=fp8 decode_ab trig2b_fp8 qwen2-vl-2b 1 VLMQ_PDL_TRIGGER \
    'measured;measured,qkv:fp8;measured,o:fp8;measured,gate_up:fp8;measured,down:fp8' 80
RECIPE=int4_wo decode_ab norm7b_int4 qwen2-vl-7b 1 VLMQ_NORM_FIRST 'measured;none;qkv;gate_up' 120
RECIPE=int8_wo decode_ab norm7b_int8 qwen2-vl-7b 1 VLMQ_NORM_FIRST 'measured;none;qkv;gate_up' $(( $(left) - 8 ))
finish_call
for f in trig2b_int4 trig2b_int8 trig2b_fp8 norm7b_int4 norm7b_int8; do cat $R/$f.log; done
