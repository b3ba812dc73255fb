# Thirty-third session, call 2: main's whole GPU suite at one commit on 14 processes (gpu_tests, pytest-xdist; call 1
# ran all but test_gpu_engines.py in ~300 s, one failure: an FP8 x FP8 tensor-core GEMV at the 7b down shape over a
# tolerance that did not allow for Hopper's fast FP8 accumulation -- the test now states one and seeds its input),
# then the 2b rows of call 1's no-combine attention A/B, which a rejected fourth variant (warps=16) had stopped
# (bench_decode_ab.py now reads every variant before any model loads).
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests suite $(( $(left) - 90 ))
bf16_ab ab2b qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN 'default;splits=1,prefetch=6,warps=8;splits=1,prefetch=5,warps=8'
finish_call
grep -c PASSED $R/suite.log; grep "^FAILED\|^ERROR\|rc \| passed\| failed" $R/suite.log | tail -30
cat $R/ab2b/ab.md 2>/dev/null; tail -n 3 $R/ab2b.log
