# (Run from benchmarks/planned/ as BUDGET=240 CALL=c5: the thirty-sixth session's call 4, 166 s warm after a cold start.)
# Planned by the thirty-sixth session (BUDGET=240), after its call 3: the Triton shuffle of call 3 (four gathered words
# an output word) took 272 / 139 us for the 7b gate/up / down weights, so made one layer ahead it held the 7b int4_wo
# first token at 24.56 ms against 13.84 (side). Now each program loads its source tile whole (coalesced rows) and
# permutes it in registers. This call: the shuffle's GPU tests (against CUTLASS's reorder) and the compiled toy's
# fused_mlp test call 3 failed on its expectation (the ring leaves every slot but the first holding maxima), the
# shuffle's time and the 7b int4_wo first-token A/B side / shuffle (5 rounds). (No device time is left for the 7b
# table with it: where shuffle wins, the next session runs call4-7b-int4-table-shuffle.sh.)
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests tests 120 tests/engine/test_w4_shuffle_gpu.py tests/engine/test_prefill_prepare_gpu.py \
    "tests/engine/test_fused_mlp_gpu.py::test_compiled_engine_with_gate_up_maxima_gives_the_same_tokens"
timeout 40 python3 benchmarks/bench_w4_shuffle.py --out "$R/w4s" --presets 7b --projections gate_up,down 2>&1 \
    | grep -v "$F" | tail -12 > "$R/w4s.log"
echo "w4s rc ${PIPESTATUS[0]} at $(since) s" >> "$R/w4s.log"
RECIPE=int4_wo AB_ROUNDS=5 AB_FLAGS="--rebuild --ttft --new-tokens 8" decode_ab ttft7b qwen2-vl-7b 1 \
    VLMQ_PREFILL_PREPARE "side;shuffle" 90
finish_call
grep -E "FAILED|ERROR| passed| failed|rc " $R/tests.log | tail -20
cat $R/w4s.log $R/ttft7b.log; cat $R/ttft7b/ab.md 2>/dev/null
