# (Run from benchmarks/planned/ as BUDGET=560 CALL=a3: the forty-first session's call 3, 554 s from a cold start at 574c5a0 + its planned scripts. The 2b table stopped at its own 280 s budget after three recipes -- bf16, int8_wo, fp8: a cold machine compiles longer -- and the suite ran 253 s: 722 of 728 done, 710 passed, 12 skipped, none failed, 6 still running at the limit.)
# Planned by the forty-first session (BUDGET=560, from a cold start, carrying .whl and build/packed): the 2b table of
# every real recipe in one run with $VLMQ_FRAG_ROWS on by default (call 1's A/B: the int4 batch-16 steps 0.985 /
# 0.995x), then main's whole GPU suite (it last ran whole in the thirty-seventh session, before the 16-row int4 tiles'
# group values ahead, x_frag and the frag rows).
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq 320
GPU_TEST_WORKERS=14 gpu_tests suite $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log; grep -E "FAILED|ERROR| passed| failed|rc " $R/suite.log | tail -30
