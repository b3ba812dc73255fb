# Planned by the thirty-sixth session (BUDGET=540): its call 2 found CUTLASS's shuffled int4 tiles 0.83-0.94x of their
# packed twins at 300 rows, bit for bit, but CUTLASS's reorder took 339 / 530 us on the 7b gate/up / down weights
# (ten times their bytes' time). Now a Triton kernel makes the layout (cutlass_gemm.w4_shuffle, checked here against
# CUTLASS's reorder) and $VLMQ_PREFILL_PREPARE=shuffle has SidePreparation make the int4 CUTLASS weights shuffled one
# layer ahead on its side stream, their tiles' twins reading them. This call: the shuffle and prefill-preparation GPU
# tests (bit for bit; the toy's greedy answers through the compiled engine with its int4 weights sent to CUTLASS's
# tile 3), the shuffle's time (Triton and CUTLASS) and the 7b int4_wo first token A/B, side against shuffle (5
# rounds); where shuffle wins outside the spreads, the 7b table of BF16 and the int4 recipes with it (issue 16's 7b
# int4 TTFT bars, ties at 1.201x / 1.204x BF16's against <= 1.2x, judged on one run).
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests shuffle 150 tests/engine/test_w4_shuffle_gpu.py tests/engine/test_prefill_prepare_gpu.py
timeout 60 python3 benchmarks/bench_w4_shuffle.py --out "$R/w4s" --presets 7b --projections gate_up,down 2>&1 \
    | grep -v "$F" | tail -12 > "$R/w4s.log"
echo "w4s rc ${PIPESTATUS[0]} at $(since) s" >> "$R/w4s.log"
RECIPE=int4_wo AB_ROUNDS=5 AB_FLAGS="--rebuild --ttft --new-tokens 8" decode_ab ttft7b qwen2-vl-7b 1 \
    VLMQ_PREFILL_PREPARE "side;shuffle" 200
if python3 -c "import json, sys; t = json.load(open('$R/ttft7b/ab.json'))['results'][0]['ttft']
sys.exit(0 if t['shuffle']['max'] < t['side']['min'] else 1)"; then
    export VLMQ_PREFILL_PREPARE=shuffle
    speed_table speed7b qwen2-vl-7b bf16,int4_wo,int4_awq $(( $(left) - 8 ))
fi
finish_call
grep -E "FAILED|ERROR| passed| failed|rc " $R/shuffle.log | tail -30
cat $R/w4s.log $R/ttft7b.log; cat $R/ttft7b/ab.md $R/speed7b.log 2>/dev/null
