# (Run from benchmarks/planned/ as BUDGET=380 CALL=al5: the fortieth session's call 5, 131 s from a cold start, at 3757c31.)
# Planned by the fortieth session (BUDGET=380, from a cold start, carrying .whl and build/packed): SmoothQuant's and
# FP8's 2b q/k/v rows at one row normalized and quantized in normalize_rows first (VLMQ_NORM_FIRST=qkv, which now
# moves a W8A8 row's RMSNorm too) against the measured rule (the CUDA-core GEMV's prologue: 512 programs x K 1536 is
# under ROW_PROLOGUE_MAX_WORK). The splits sweep of this session's call 4 timed the int8 W8A8 q/k/v at 9.03 us in its
# prologue (the int8 tile has one warp a program: 48 row values a lane before its first weight) and 6.48 with the
# rows first (split 2); the FP8 tile (four warps) 4.94 in the prologue. Then the fused kernels' GPU tests.
. benchmarks/device_call.sh
RECIPE=smoothquant,fp8 AB_ROUNDS=5 decode_ab ab2b qwen2-vl-2b 1 VLMQ_NORM_FIRST "measured;qkv" $(( $(left) - 150 ))
GPU_TEST_WORKERS=14 gpu_tests tests $(( $(left) - 10 )) tests/engine/test_fused_gpu.py
finish_call
cat $R/ab2b.log; grep -E "FAILED|ERROR| passed| failed|rc " $R/tests.log | tail -12
