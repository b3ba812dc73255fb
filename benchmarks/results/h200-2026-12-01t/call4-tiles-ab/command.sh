# Run in the twenty-first session (planned in the twentieth): decode steps on the shipped tile table against call 2 sweep, one process.
. benchmarks/device_call.sh
BEFORE=src/vlmq/engine/kernels/tiles/h200.json
AFTER=${TILES_AFTER:?give TILES_AFTER=the path of the table written from the call 1 sweep, a tracked file}
timeout $(( $(left) / 2 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes int4_wo,int8_wo \
    --batch-sizes 1 --env VLMQ_TILES --variants "$BEFORE;$AFTER" --rounds 3 2>&1 | grep -v "$F" | tail -14 > $R/ab7b.log
echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b --recipes int4_wo,int8_wo \
    --batch-sizes 1 --env VLMQ_TILES --variants "$BEFORE;$AFTER" --rounds 3 2>&1 | grep -v "$F" | tail -14 > $R/ab2b.log
echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
finish_call
cat $R/ab7b/ab.md $R/ab2b/ab.md 2>/dev/null; tail -n 3 $R/ab7b.log $R/ab2b.log
