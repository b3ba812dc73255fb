# Planned by the thirty-sixth session (BUDGET=400): its call 2 found CUTLASS's shuffled int4 tiles 0.83-0.94x of their
# packed twins at 300 rows, bit for bit, but CUTLASS's reorder took 339 / 530 us on the 7b gate/up / down weights
# (ten times their bytes' time). Now a Triton kernel makes the layout (cutlass_gemm.w4_shuffle, checked here against
# CUTLASS's reorder) and $VLMQ_PREFILL_PREPARE=shuffle has SidePreparation make the int4 CUTLASS weights shuffled one
# layer ahead on its side stream, their tiles' twins reading them. This call: the shuffle and prefill-preparation GPU
# tests (bit for bit; the toy's greedy answers through the compiled engine with its int4 weights sent to CUTLASS's
# tile 3), the shuffle's time (Triton and CUTLASS), the 7b int4 28-layer GEMM mix (bench_dequant_overlap.py:
# engine, engine+side, engine+shuffle) and the 7b int4_wo first token A/B, side against shuffle (5 rounds).
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests shuffle 150 tests/engine/test_w4_shuffle_gpu.py tests/engine/test_prefill_prepare_gpu.py
timeout 60 python3 benchmarks/bench_w4_shuffle.py --out "$R/w4s" --presets 7b,2b --projections gate_up,down 2>&1 \
    | grep -v "$F" | tail -12 > "$R/w4s.log"
echo "w4s rc ${PIPESTATUS[0]} at $(since) s" >> "$R/w4s.log"
timeout 100 python3 benchmarks/bench_dequant_overlap.py --out "$R/overlap" --preset 7b --formats int4 --slice-mb '' \
    --reps 10 2>&1 | grep -v "$F" | tail -12 > "$R/overlap.log"
echo "overlap rc ${PIPESTATUS[0]} at $(since) s" >> "$R/overlap.log"
RECIPE=int4_wo AB_ROUNDS=5 AB_FLAGS="--rebuild --ttft --new-tokens 8" decode_ab ttft7b qwen2-vl-7b 1 \
    VLMQ_PREFILL_PREPARE "side;shuffle"
finish_call
grep -E "FAILED|ERROR| passed| failed|rc " $R/shuffle.log | tail -30
cat $R/w4s.log $R/overlap.log $R/ttft7b.log; cat $R/ttft7b/ab.md 2>/dev/null
