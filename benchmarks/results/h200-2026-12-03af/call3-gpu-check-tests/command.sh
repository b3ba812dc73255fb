# Thirty-third session, call 3: the documented GPU check's tests stage as a user runs it (`STAGES=tests bash
# benchmarks/gpu_check.sh`), now on 12 processes and unpacking the carried CUTLASS library (carried_libs.sh, shared
# with device_call.sh): before, it exported VLMQ_CUTLASS_LIB only for an unpacked build/ -- which a call cannot carry
# beside the tree -- so test_cutlass_gpu.py would have skipped. Its log into $OUT/check/gpu_tests.log.
mkdir -p "$OUT/check"
OUT=$OUT/check STAGES=tests TEST_TIMEOUT=${TEST_TIMEOUT:-430} bash benchmarks/gpu_check.sh > /dev/null 2>&1
echo "gpu_check rc $?"
tail -n 4 "$OUT/check/gpu_tests.log"; cat "$OUT/check/device.txt"
