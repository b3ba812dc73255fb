# (Typed as one line: the thirty-ninth session's call 4, 104 s warm after call 3, at 70ac1fb, carrying .whl and
# build/packed.) The int4 engines' end-to-end GPU tests that call 3's 130 s cut: the toy's greedy answers through the
# eager and compiled engines for int4_wo / int4_awq (attention, o_proj, mma variants, keep8=0). 6 passed.
. benchmarks/device_call.sh 2>/dev/null; BUDGET=300; GPU_TEST_WORKERS=6 gpu_tests tests 280 tests/recipes/test_gpu_engines.py -k "int4"; finish_call; grep -E "FAILED|ERROR|PASSED| passed| failed|rc " $R/tests.log | tail -14
