# (Run from benchmarks/planned/ as BUDGET=560 CALL=a1: the forty-first session's call 1, 214 s of device time after a cold start (one refused start before it), at 93b6389.)
# Planned by the fortieth session (BUDGET=560, from a cold start, carrying .whl and build/packed): $VLMQ_FRAG_ROWS=1
# -- normalize_rows stores the 16 normed rows before q/k/v and gate/up in the K order of the swapped fragment-order
# int4 tile that reads them, which skips its per-K-tile permute through shared memory (x_frag). Alone, on rows
# stored so, the tiles took 0.86-0.99x (results/h200-2026-12-03al/call6-xfrag: 7b gate/up 36.5 -> 33.8 us, q/k/v
# 10.0 -> 9.5; 2b gate/up 11.7 -> 10.1); here the normalize_rows launch permutes each row in registers first (the
# tile's own frag_permuted, through shared memory once a row) and stores it as before. First the GPU tests (the engine's call -- gemv with the RMSNorm, SiLU-mul for gate/up -- bit-equal
# both ways at both presets' q/k/v and gate/up shapes: equal outputs, equal tokens; the toy engines' tests do not reach
# these tiles), then the decode-step A/B of both presets' int4 recipes at batch 16 (the setting changes nothing at
# batch 1: the one-row tiles are CUDA-core ones), five rounds. Adopt (default 1) only where the step is faster, then
# run test_gpu_engines.py with it.
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests tests 200 tests/engine/test_kernels_gpu.py -k "rows_stored or fragment_order_tiles_match"
RECIPE=int4_wo,int4_awq AB_ROUNDS=5 decode_ab ab7b qwen2-vl-7b 16 VLMQ_FRAG_ROWS "0;1" $(( ($(left) - 10) / 2 ))
RECIPE=int4_wo,int4_awq AB_ROUNDS=5 decode_ab ab2b qwen2-vl-2b 16 VLMQ_FRAG_ROWS "0;1" $(( $(left) - 8 ))
finish_call
grep -E "FAILED|ERROR| passed| failed|rc " $R/tests.log | tail -16; cat $R/ab7b.log $R/ab2b.log
