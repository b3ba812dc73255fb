# Fifty-first session, warm after call 3 (BUDGET=330): the engines GPU test on every real recipe with both candidate
# settings on -- $VLMQ_GEMV_UNMASKED=1 (int4 / int8 / bf16 tiles) and $VLMQ_W8A8_ROW_MAX=forward (the W8A8 ones).
# Run as: BUDGET=330 CALL=4 bash -c '<this file>'
. benchmarks/device_call.sh; VLMQ_GEMV_UNMASKED=1 VLMQ_W8A8_ROW_MAX=forward gpu_tests eng 300 tests/recipes/test_gpu_engines.py; finish_call; grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/eng.log | tail -30
