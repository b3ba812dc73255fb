# Planned by the forty-sixth session (warm after call 1, BUDGET=420): (1) $VLMQ_GEMV_PREFETCH=l2 (new, off by
# default): the staged one-row tiles (every int8 one-row tile of both presets but the 2b o_proj, and the 2b bf16
# q/k/v, o and down) prefetch their first K tiles into L2 before the PDL wait, where today they read no weight before
# it -- its GPU test (the same bits with and without), then whole steps at batch 1 (the 2b int8_wo gate/up adds 16.7 us
# a layer in the step against 12.1 alone). (2) The bound on an RMSNorm made once by the producer's last program
# (docs/benchmarks.md, forty-sixth session): the 2b int4 RMSNorms run first by normalize_rows against in the prologue
# on this default (the thirty-first session's: gate/up's first level, 0.999x; both 1.026x).
. benchmarks/device_call.sh
gpu_tests prefetch 120 tests/engine/test_kernels_gpu.py -k prefetch
RECIPE=int8_wo,smoothquant,bf16 decode_ab prefetch_2b qwen2-vl-2b 1 VLMQ_GEMV_PREFETCH 'off;l2' 100
RECIPE=int8_wo,bf16 decode_ab prefetch_7b qwen2-vl-7b 1 VLMQ_GEMV_PREFETCH 'off;l2' 120
RECIPE=int4_wo decode_ab norm2b_int4 qwen2-vl-2b 1 VLMQ_NORM_FIRST 'measured;gate_up;qkv,gate_up' $(( $(left) - 8 ))
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc " $R/prefetch.log | tail -6
for f in prefetch_2b prefetch_7b norm2b_int4; do cat $R/$f/ab.md 2>/dev/null || cat $R/$f.log; done
