# Planned by the fiftieth session (BUDGET=560, warm after call 1). (1) The GPU tests of what runs unchecked there:
# `test_gpu_engines.py` on every real recipe on the default as it then stands (the forty-ninth session's measured
# RMSNorm deferral, gemv.NORM_DEFER_MEASURED: checked on the GPU only as a superset, every deferrable norm deferred)
# and `test_forwarded_maxima_gpu.py` ($VLMQ_W8A8_ROW_MAX=forward, built on the CPU by the fiftieth session: o_proj's
# and down_proj's epilogues gather the maxima gate/up's and the next layer's q/k/v's W8A8 rows are quantized with,
# their RMSNorms deferred, where the tile would otherwise quantize the rows in its prologue or, a one-row
# tensor-core tile, run normalize_rows first -- the 2b q/k/v's statistics pass and the fp8 gate/up's normalize_rows
# (2b and 7b) go). (2) The forward mode's whole 2b steps against the default (gate_up), fp8 and smoothquant, batch 1,
# each variant's runner built again (--rebuild: the mode is read as packs are built). (3) With what is left, the 2b
# fp8 batch-1 per-step profile with the mode on, against the forty-eighth session's (whose fp8 attention added 6.95 us
# a layer against 4.0-4.6 on the other recipes' steps, unexplained: does it follow q/k/v's prologue?).
# Adopt (ROW_MAX_MODES' default in vlmq.engine.kernels.fused) only where a step is faster and the tokens test passed.
. benchmarks/device_call.sh
gpu_tests gpu 250 tests/recipes/test_gpu_engines.py tests/engine/test_forwarded_maxima_gpu.py
RECIPE=fp8,smoothquant AB_FLAGS=--rebuild decode_ab forward_2b qwen2-vl-2b 1 VLMQ_W8A8_ROW_MAX 'gate_up;forward' 170
VLMQ_W8A8_ROW_MAX=forward speed_table prof_fwd qwen2-vl-2b fp8 $(( $(left) - 8 )) --tasks speed-profile \
    --batch-sizes 1
finish_call
grep -a "passed\|failed\|FAILED\|ERROR\| rc \|relative difference\|kernels a step" $R/gpu.log | tail -24
cat $R/forward_2b/ab.md 2>/dev/null || cat $R/forward_2b.log
cat $R/prof_fwd.log
