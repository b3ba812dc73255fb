# (Run from benchmarks/planned/ as BUDGET=540 CALL=w2: the thirty-ninth session's call 2, 352 s from a cold start, at e67125f. The tests' 210 s cut the last of 178, test_gpu_engines.py's int4_awq-mma; 177 passed.)
# Planned by the thirty-ninth session (BUDGET=560, carrying .whl and build/packed): the int4 group values (scales,
# zero points) loaded one K tile ahead (gemv_triton: the fragment-order tiles on warpgroup MMAs, every shipped 16-row
# one; the CUDA-core tiles whose weights are in flight ahead -- pipe, stages), where each iteration waited on them
# before its dequantization (sm_90 PTX: Triton's pipeliner leaves those 1-2 byte loads in the loop; ptxas now lands
# them in the registers the next iteration reads, no move between). The GPU tests of the int4 tiles and the engines'
# end-to-end ones (the toy's greedy answers, eager = compiled, every real recipe: the shipped int4 tiles changed),
# then the same sweep as call w1 (the wide tiles and the shipped 16-row tiles: its defaults are this change's
# before/after) and the one-row CUDA-core tiles with the next tile in flight (--ahead-only: with the group values
# ahead too, their weights' lead is no longer spent waiting on the scales).
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests tests 210 tests/engine/test_kernels_gpu.py tests/recipes/test_gpu_engines.py \
    -k "int4 or fragment or staged or decode_linear or fused_layer or engines"
timeout 150 python3 benchmarks/bench_kernels.py --out $R/wide --sweep --wide-k-only --modes int4-g128 \
    --presets 7b,2b --rows 16,1 --jobs 15 --budget-s 120 2>&1 | grep -v "$F" | grep -v "^  (" | tail -20 > $R/wide.log
echo "wide rc ${PIPESTATUS[0]} at $(since) s" >> $R/wide.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_kernels.py --out $R/ahead --sweep --ahead-only --modes int4-g128 \
    --presets 7b,2b --rows 1 --jobs 15 --budget-s $(( $(left) - 100 )) 2>&1 | grep -v "$F" | grep -v "^  (" \
    | tail -12 > $R/ahead.log
echo "ahead rc ${PIPESTATUS[0]} at $(since) s" >> $R/ahead.log
finish_call
grep -E "FAILED|ERROR| passed| failed|rc " $R/tests.log | tail -20; cat $R/wide.log $R/ahead.log
