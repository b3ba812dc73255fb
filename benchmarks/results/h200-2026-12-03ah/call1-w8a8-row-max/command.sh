# (Run from benchmarks/planned/ as BUDGET=540 CALL=a1: the thirty-sixth session's call 1, device time 332 s warm after a cold start.)
# Planned by the thirty-fifth session (BUDGET=560, ~550 s warm; run it first: its code is on main, off by default,
# and has not run on a GPU): vlmq::fused_mlp ($VLMQ_W8A8_ROW_MAX=gate_up: a W8A8 layer's down_proj rows quantized
# with the row maxima gate/up's epilogue gathers, no normalize_rows launch between them). Its GPU tests (bit for bit
# against the two-launch path at the 2b / 7b shapes, 1 / 3 / 16 rows; a ring of slots replayed from a CUDA graph; the
# compiled toy's greedy tokens and row kernels a step), a whole-step A/B of 2b fp8 and smoothquant at batch 1 and 16
# (the runner rebuilt for each value: the setting is read as the packs are built), and those steps' per-kernel
# profile with it on (the thirty-first session's, without it, is h200-2026-12-02ad/call2-profiles).
. benchmarks/device_call.sh
gpu_tests mlp 150 tests/engine/test_fused_mlp_gpu.py
RECIPE=fp8,smoothquant AB_ROUNDS=5 AB_FLAGS=--rebuild decode_ab ab2b qwen2-vl-2b 1,16 VLMQ_W8A8_ROW_MAX \
    "kernel;gate_up" 230
VLMQ_W8A8_ROW_MAX=gate_up timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out "$R/prof2b" \
    --models qwen2-vl-2b --recipes fp8,smoothquant --batch-sizes 1,16 --tasks speed-profile \
    --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -6 > "$R/prof2b.log"
echo "prof2b rc ${PIPESTATUS[0]} at $(since) s" >> "$R/prof2b.log"
finish_call
grep -E "PASSED|FAILED|ERROR|passed|failed|rc " $R/mlp.log | tail -40; cat $R/ab2b.log $R/prof2b.log
cat $R/ab2b/ab.md 2>/dev/null; grep -B2 -A12 "layers x" $R/prof2b/profiles.md | head -80
