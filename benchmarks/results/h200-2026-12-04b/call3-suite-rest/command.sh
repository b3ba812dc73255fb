# (Run from benchmarks/planned/ as BUDGET=430 CALL=b3: the forty-second session's call 3, 163 s from a cold start, at 6c982f2.)
# Planned by the forty-second session (BUDGET=430, from a cold start, carrying .whl and build/packed): the six GPU tests
# the forty-first session's whole-suite call left running at its limit (benchmarks/results/h200-2026-12-04a/
# call3-table2b-suite/suite.log: 722 of 728 finished, none failed), on six workers, so every GPU test has run on the
# engine with the frag rows on.
. benchmarks/device_call.sh
GPU_TEST_WORKERS=6 gpu_tests rest $(( $(left) - 8 )) \
    "tests/engine/test_attention_gpu.py::test_attention_into_o_proj_equals_the_attention_then_o_proj[int4-bf16-3-2048-700-7b]" \
    "tests/engine/test_attention_gpu.py::test_attention_into_o_proj_equals_the_attention_then_o_proj[int4-dynamic-1-372-300-2b]" \
    "tests/engine/test_attention_gpu.py::test_attention_into_o_proj_equals_the_attention_then_o_proj[int4-dynamic-1-372-300-7b]" \
    "tests/engine/test_cutlass_gpu.py::test_w8a16_gemm_matches_the_reference[300-2b down]" \
    "tests/recipes/test_gpu_engines.py::test_eager_and_compiled_engines_answer_the_same[int4_wo+keep8=0-attention]" \
    "tests/recipes/test_gpu_engines.py::test_eager_and_compiled_engines_answer_the_same[int4_wo-o_proj]"
finish_call
tail -14 $R/rest.log
