# Planned by the forty-fourth session (BUDGET=560 from a cold start, `.whl/` and `build/packed/` carried: the e2e
# stage's prefill takes CUTLASS's GEMMs as the committed H200 run did), run by the forty-fifth on the fused decode
# attention's default as it then stood (`ATTN_WARPS`: 4 warps over every cache; `ATTN_TARGET_PROGRAMS`: 256 programs;
# `attention_stages`: 3 stages where a split of the static cache holds >= 4 blocks), which no GPU test had run whole.
# (1) gpu_check.sh's e2e stage through the compiled engine: the toy's nine recipes against the committed H200 run
# exactly (4 warps sum the softmax in another order: an answer that moved shows in e2e/compare_compiled_gpu.md; if some
# did, they are the new reference only after the eager engine agrees: run E2E_MODES=eager next); (2) the attention's
# and the engines' GPU tests on the default as it stands.
. benchmarks/device_call.sh
mkdir -p "$R/e2e"
OUT=$R/e2e STAGES=e2e E2E_MODES=compiled RUN_TIMEOUT=260 bash benchmarks/gpu_check.sh > "$R/e2e.log" 2>&1
echo "gpu_check rc $? at $(since) s" >> "$R/e2e.log"
rm -f "$R"/e2e/*.sqlite* 2>/dev/null
gpu_tests t_attn_engines $(( $(left) - 8 )) tests/engine/test_attention_gpu.py tests/recipes/test_gpu_engines.py
finish_call
tail -n 3 "$R/e2e.log"; echo ---; tail -40 "$R/e2e/compare_compiled_gpu.md"
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/t_attn_engines.log | tail -25
