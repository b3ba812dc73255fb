# Twenty-ninth session, call 2: the int4 tensor-core GEMV's five call-3 entries (twenty-eighth session) A/B'd in whole
# 2b int4_wo steps before any ships: the shipped table, it plus all five entries, it plus the four 16-row entries only
# (2b q/k/v, o, down; 7b o) -- the 2b gate/up one-row entry needs a normalize_rows launch first, which made call 2's
# step slower. bench_decode_ab.py, one process, 3 interleaved rounds.
. benchmarks/device_call.sh
P=benchmarks/planned  # the two tables it read now sit beside this file
timeout $(( $(left) - 10 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b --recipes int4_wo \
    --batch-sizes 1,16 --env VLMQ_TILES --rounds 3 \
    --variants "src/vlmq/engine/kernels/tiles/h200.json;$P/tiles-w4mma-all.json;$P/tiles-w4mma-16.json" \
    2>&1 | grep -v "$F" | tail -12 > $R/ab2b.log
echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
finish_call
cat $R/ab2b.log; cat $R/ab2b/ab.md 2>/dev/null | head -20
