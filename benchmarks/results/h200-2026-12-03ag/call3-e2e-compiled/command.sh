# (Run from benchmarks/planned/ as BUDGET=540 CALL=b3.)
# Planned by the thirty-third session, run in the thirty-fourth: gpu_check.sh's e2e stage through the compiled engine
# with its new exact comparison (compare_compiled_gpu.md: every headline of this run against the committed H200 run,
# GPU_RUN, --tol 0 -- any greedy answer that moved on the GPU shows) beside the CPU comparison (compare_compiled.md,
# --tol 1). The run's budget is the call's less ~40 s for the report export and the two comparisons.
. benchmarks/device_call.sh
mkdir -p "$R/e2e"
OUT=$R/e2e STAGES=e2e E2E_MODES=compiled RUN_TIMEOUT=$(( $(left) - 45 )) bash benchmarks/gpu_check.sh > "$R/e2e.log" 2>&1
echo "gpu_check rc $? at $(since) s" >> "$R/e2e.log"
rm -f "$R"/e2e/*.sqlite* 2>/dev/null
finish_call
tail -n 3 "$R/e2e.log"; echo ---; cat "$R/e2e/compare_compiled_gpu.md" | tail -40
