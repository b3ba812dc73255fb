# Planned by the thirty-fifth session (BUDGET=400, ~390 s warm), after call0 if $VLMQ_W8A8_ROW_MAX=gate_up won on the
# 2b: the same whole-step A/B of fp8 and smoothquant on the 7b at batch 1 and 16.
. benchmarks/device_call.sh
RECIPE=fp8,smoothquant AB_ROUNDS=3 AB_FLAGS=--rebuild decode_ab ab7b qwen2-vl-7b 1,16 VLMQ_W8A8_ROW_MAX \
    "kernel;gate_up"
finish_call
cat $R/ab7b.log; cat $R/ab7b/ab.md 2>/dev/null
