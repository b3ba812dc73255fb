# (Run as BUDGET=400 CALL=a2, 171 s warm after call 1, with VLMQ_FRAG_ROWS=1 exported before the default changed: the
# toy engines' eager = compiled greedy answers for every real recipe with the frag rows on.)
export VLMQ_FRAG_ROWS=1
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests engines 380 tests/recipes/test_gpu_engines.py
finish_call
grep -E "FAILED|ERROR| passed| failed|rc " $R/engines.log | tail -20
