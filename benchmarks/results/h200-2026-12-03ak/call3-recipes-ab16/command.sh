# (Run from benchmarks/planned/ as BUDGET=560 CALL=w3: the thirty-ninth session's call 3, 257 s from a cold start, at 70ac1fb. The tests' 130 s cut them before their summary: call 4 ran them again.)
# Planned by the thirty-ninth session (BUDGET=560, from a cold start, carrying .whl and build/packed), after its call 2
# (results h200-2026-12-03ak/call2-int4-meta-ahead): the warpgroup int4 fragment-order tiles now load a K tile's group
# values one iteration ahead (7b gate/up 38.2 -> 35.6 us, o 9.2 -> 8.6 at 16 rows in the sweeps of calls 1-2; 7b down
# and q/k/v level), and the CUDA-core tiles' form of it is taken back out (no faster one-row tile; the shipped 2b q/k/v
# 2.9 -> 3.5 us). First the int4 engines' end-to-end GPU tests on this tree (the toy's greedy answers, eager =
# compiled; call 2's timeout cut int4_awq-mma), then the batch-16 "4-bit faster than 8-bit" bars without a table's
# drift: bench_decode_ab.py --env recipe (an engine a recipe, all resident, interleaved rounds), the 7b int8_wo /
# int4_wo / int4_awq (the table's 0.994x / 1.002x) and the 2b fp8 / int4_wo / int4_awq (0.996x / 1.019x).
. benchmarks/device_call.sh
GPU_TEST_WORKERS=6 gpu_tests tests 130 tests/recipes/test_gpu_engines.py -k "int4"
decode_ab ab7b qwen2-vl-7b 16 recipe 'int8_wo;int4_wo;int4_awq' $(( ($(left) - 8) * 55 / 100 ))
decode_ab ab2b qwen2-vl-2b 16 recipe 'fp8;int4_wo;int4_awq' $(( $(left) - 8 ))
finish_call
grep -E "FAILED|ERROR| passed| failed|rc " $R/tests.log | tail -12; cat $R/ab7b.log $R/ab2b.log
cat $R/ab7b/ab.md $R/ab2b/ab.md 2>/dev/null
