# (Run from benchmarks/planned/ as BUDGET=560 CALL=ai1: the thirty-seventh session's call 1, 553 s from a cold start; its table stopped at its own 330 s after four recipes, the suite finished but its summary was cut.)
# Planned by the thirty-sixth session (BUDGET=560, run it first): the 2b table -- every real recipe in one run, batch 1
# and 16 -- with vlmq::fused_mlp the default (W8A8 batch-1 down_proj rows quantized with gate/up's row maxima: A/Bs
# 0.980x / 0.984x on the 2b fp8 / smoothquant step, 0.981x on the 7b smoothquant one, results h200-2026-12-03ah), so
# issues 16 and 17's bars are judged again on one run (check_bars.py with the 7b table of call0b). Then the GPU suite's
# files this session changed and did not run whole (the suite last ran whole in the thirty-fourth session).
. benchmarks/device_call.sh
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq 330
GPU_TEST_WORKERS=14 gpu_tests suite $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log; grep -E "FAILED|ERROR| passed| failed|rc " $R/suite.log | tail -30
