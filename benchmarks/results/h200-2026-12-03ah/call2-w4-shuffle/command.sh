# (Run from benchmarks/planned/ as BUDGET=300 CALL=a2: the thirty-sixth session's call 2, 72 s warm.)
# Planned by the thirty-fifth session (BUDGET=300, ~250 s warm; the library rebuilt from main first: its mixed_gemm.cu
# gained the shuffled int4 tiles): CUTLASS's shuffled int4 layout for the weight-only prefill GEMM, never run on a GPU.
# Its GPU tests (bit for bit against the same tiles over the packed layout), then each shuffled / packed tile pair's
# time at 300 rows on both presets' projections and the shuffle's own (bench_w4_shuffle.py).
. benchmarks/device_call.sh
gpu_tests shuffle 120 tests/engine/test_w4_shuffle_gpu.py
timeout $(( $(left) - 8 )) python3 benchmarks/bench_w4_shuffle.py --out "$R/w4s" --presets 7b,2b --rows 300 2>&1 \
    | grep -v "$F" | tail -30 > "$R/w4s.log"
echo "w4s rc ${PIPESTATUS[0]} at $(since) s" >> "$R/w4s.log"
finish_call
grep -E "PASSED|FAILED|ERROR|passed|failed|rc " $R/shuffle.log | tail -30; cat $R/w4s.log
