# Planned by the thirty-sixth session (BUDGET=330): its call 1 measured $VLMQ_W8A8_ROW_MAX=gate_up on the 2b
# (batch 1: fp8 0.980x, smoothquant 0.984x; batch 16: 1.318x / 1.427x -- down_proj's tensor-core tiles quantizing
# every row tile in each program: 27.2 us against 9.2 + 2.8 for the plain tile and normalize_rows). vlmq::fused_mlp
# now takes the maxima only where down_proj runs on the CUDA cores (gemv.row_max_on_cuda_cores: one row on the 2b
# and the 7b int8 down; the 7b FP8 down takes a tensor-core tile even at one row) and is the default. This call: the
# fused_mlp GPU tests (the row-maximum launches on every tile, fused_mlp's choice, the compiled toy's tokens) and
# test_fused_gpu.py (kernels a layer, compiled against eager) and test_gpu_engines.py (the W8A8 labels changed), then the 7b smoothquant batch-1 A/B with the rule in
# place (its int8 down_proj runs on the CUDA cores at one row; the 7b FP8 one does not, and the 2b batch-1 path is
# call 1's).
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests mlp 210 tests/engine/test_fused_mlp_gpu.py tests/engine/test_fused_gpu.py \
    tests/recipes/test_gpu_engines.py
RECIPE=smoothquant AB_ROUNDS=3 AB_FLAGS=--rebuild decode_ab ab7b qwen2-vl-7b 1 VLMQ_W8A8_ROW_MAX "kernel;gate_up"
finish_call
grep -E "FAILED|ERROR| passed| failed|rc " $R/mlp.log | tail -30
cat $R/ab7b.log; cat $R/ab7b/ab.md 2>/dev/null
