# (Run from benchmarks/planned/ as BUDGET=300 CALL=b8: the forty-second session's call 8, 116 s from a cold start, at 479f8d5.)
# Planned by the forty-second session (BUDGET=300, from a cold start, carrying .whl and build/packed): its call 4 timed
# the 2b's one-row int8 GEMVs alone slower with PDL than without (gate/up 13.6 against 11.5 us, down 10.2 against 7.5)
# where bf16 and int4 gained from it -- does the step? bench_decode_ab.py --env VLMQ_PDL_OFF: the 2b int8_wo batch-1
# step with the int8 CUDA-core gate/up, down, or both launched without PDL, five interleaved rounds; then, as the
# budget allows, the 7b's with both off, three rounds.
. benchmarks/device_call.sh
AB_ROUNDS=5 RECIPE=int8_wo decode_ab ab2b qwen2-vl-2b 1 VLMQ_PDL_OFF \
    "none;gate_up:int8:sum;down:int8:sum;gate_up:int8:sum,down:int8:sum" $(( $(left) * 6 / 10 ))
AB_ROUNDS=3 RECIPE=int8_wo decode_ab ab7b qwen2-vl-7b 1 VLMQ_PDL_OFF "none;gate_up:int8:sum,down:int8:sum"
finish_call
cat $R/ab2b/ab.md $R/ab7b/ab.md 2>/dev/null; tail -n 3 $R/ab2b.log $R/ab7b.log
