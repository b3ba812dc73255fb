# (Run from benchmarks/planned/ as BUDGET=540 CALL=b1; the three tables it read now sit beside this file.)
# Planned by the thirty-third session (~250 s warm; run it first): main's whole GPU suite on 14 processes, as that
# session's call 2 ran it (639 passed, 12 skipped in 236 s), now with every test starting from torch's generator at
# seed 0 (tests/conftest.py's seeded_torch, landed after the session's device time was spent): the GPU tests' random
# inputs changed with it, so a tolerance that held by chance would show here.
# Added by the thirty-fourth session: the 2b int4_wo batch-16 step with the int4 tensor-core GEMV (w4_gemv.cu) on one
# projection at a time (bench_decode_ab.py --env VLMQ_TILES; the tables beside this file are the shipped one plus the
# twenty-eighth session's 16-row entries for 2b o, o + down, or q/k/v). The twenty-ninth session A/B'd the four 16-row
# entries together (batch 16 1.375 -> 1.410) though each kernel alone was faster (o 5.50 -> 3.66 us, q/k/v 6.53 -> 5.17,
# down 9.65 -> 9.51): which projection loses in the step? If o alone wins, int4's batch-16 bars (faster than int8_wo,
# fp8) are ~2 us a layer away.
. benchmarks/device_call.sh
GPU_TEST_WORKERS=14 gpu_tests suite 330
P=benchmarks/planned
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b --recipes int4_wo \
    --batch-sizes 16 --env VLMQ_TILES --rounds 5 \
    --variants "src/vlmq/engine/kernels/tiles/h200.json;$P/tiles-w4mma-o.json;$P/tiles-w4mma-o-down.json;$P/tiles-w4mma-qkv.json" \
    2>&1 | grep -v "$F" | tail -12 > $R/ab2b.log
echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
finish_call
grep -c PASSED $R/suite.log; grep "^FAILED\|^ERROR\|rc \| passed\| failed" $R/suite.log | tail -30
cat $R/ab2b.log; cat $R/ab2b/ab.md 2>/dev/null | head -20
