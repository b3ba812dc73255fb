# (Run from benchmarks/planned/ as BUDGET=520 CALL=c3: the thirty-sixth session's call 3, 271 s warm after a cold start; the Triton shuffle it ran is the gather kernel of eddee71, replaced after it.)
# Planned by the thirty-sixth session (BUDGET=570), after its calls 1-2 (results h200-2026-12-03ah):
# - vlmq::fused_mlp now takes gate/up's row maxima only where down_proj runs on the CUDA cores
#   (gemv.row_max_on_cuda_cores; call 1: 2b batch 1 0.980x / 0.984x, but 1.3-1.4x at 16 rows, down_proj's tensor-core
#   tiles quantizing every row tile in each program) and is the default: its GPU tests (the row-maximum launches on
#   every tile, fused_mlp's choice, the compiled toy's tokens), test_fused_gpu.py (kernels a layer, compiled against
#   eager), test_gpu_engines.py (the W8A8 labels changed) and the 7b smoothquant batch-1 A/B (its int8 down_proj runs
#   on the CUDA cores at one row; the 7b FP8 one does not);
# - call 2 found CUTLASS's shuffled int4 tiles 0.83-0.94x of their packed twins at 300 rows, bit for bit, but
#   CUTLASS's reorder ten times their bytes' time (339 / 530 us for the 7b gate/up / down weights). A Triton kernel now
#   makes the layout (cutlass_gemm.w4_shuffle, checked here against CUTLASS's reorder) and VLMQ_PREFILL_PREPARE=shuffle
#   has SidePreparation make the int4 CUTLASS weights shuffled one layer ahead, their tiles' twins reading them: its
#   tests (bit for bit; the toy's greedy answers through the compiled engine with its int4 weights sent to CUTLASS's
#   tile 3), the shuffle's time and the 7b int4_wo first-token A/B, side against shuffle (5 rounds).
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests tests 220 tests/engine/test_fused_mlp_gpu.py tests/engine/test_fused_gpu.py \
    tests/recipes/test_gpu_engines.py tests/engine/test_w4_shuffle_gpu.py tests/engine/test_prefill_prepare_gpu.py
timeout 40 python3 benchmarks/bench_w4_shuffle.py --out "$R/w4s" --presets 7b --projections gate_up,down 2>&1 \
    | grep -v "$F" | tail -12 > "$R/w4s.log"
echo "w4s rc ${PIPESTATUS[0]} at $(since) s" >> "$R/w4s.log"
RECIPE=int4_wo AB_ROUNDS=5 AB_FLAGS="--rebuild --ttft --new-tokens 8" decode_ab ttft7b qwen2-vl-7b 1 \
    VLMQ_PREFILL_PREPARE "side;shuffle" 170
RECIPE=smoothquant AB_ROUNDS=3 AB_FLAGS=--rebuild decode_ab ab7b qwen2-vl-7b 1 VLMQ_W8A8_ROW_MAX "kernel;gate_up"
finish_call
grep -E "FAILED|ERROR| passed| failed|rc " $R/tests.log | tail -30
cat $R/w4s.log $R/ttft7b.log $R/ab7b.log; cat $R/ttft7b/ab.md $R/ab7b/ab.md 2>/dev/null
