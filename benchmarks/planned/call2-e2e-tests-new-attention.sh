# Planned by the forty-fourth session (BUDGET=560 from a cold start, `.whl/` and `build/packed/` carried: the e2e
# stage's prefill takes CUTLASS's GEMMs as the committed H200 run did). The fused decode attention's new default
# (`attention_warps`: 4 warps over BF16 caches, 2 over FP8; `attention_stages`: 3 stages where a split of the static
# cache holds >= 4 blocks) ran the attention and engine GPU tests only in halves (BF16 at 4 warps, FP8 at 2, in
# separate calls). (1) gpu_check.sh's e2e stage through the compiled engine: the toy's nine recipes against the
# committed H200 run exactly (4 warps sum the softmax in another order: an answer that moved shows in
# e2e/compare_compiled_gpu.md; if some did, they are the new reference only after the eager engine agrees: run E2E_MODES=eager
# next); (2) the attention's and the engines' GPU tests on the default as it stands.
. benchmarks/device_call.sh
mkdir -p "$R/e2e"
OUT=$R/e2e STAGES=e2e E2E_MODES=compiled RUN_TIMEOUT=260 bash benchmarks/gpu_check.sh > "$R/e2e.log" 2>&1
echo "gpu_check rc $? at $(since) s" >> "$R/e2e.log"
rm -f "$R"/e2e/*.sqlite* 2>/dev/null
gpu_tests t_attn_engines $(( $(left) - 8 )) tests/engine/test_attention_gpu.py tests/recipes/test_gpu_engines.py
finish_call
tail -n 3 "$R/e2e.log"; echo ---; tail -40 "$R/e2e/compare_compiled_gpu.md"
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/t_attn_engines.log | tail -25
