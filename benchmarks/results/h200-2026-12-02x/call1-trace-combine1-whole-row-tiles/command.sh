# Planned (twenty-fourth session, not yet run): the BF16 one-row tiles at eight warps, whose one K tile holds a whole
# 2b row (K = 1536 of 2048), so a program loads all its weights before the PDL wait: o_proj's while the attention
# combines (~3 us a layer with HBM idle, the twenty-fourth session's trace), q/k/v's while down_proj ends. The sweep
# times only them against the table's tiles (--new-only: tiles no recorded sweep timed), the table is written on the
# device, and the 2b BF16 step is A/B'd on it at batch 1 and 16 (the bar: <= 1.25 ms/token; 1.275 now). If the step
# gains: write the table on main with the same --write-tiles sources, then test_kernels_gpu.py -k bf16-bf16 and
# test_gpu_engines.py -k bf16 (call 3 below runs them).
. benchmarks/device_call.sh
# first (~45 s): the attention's ~3.2 us after the wait split at q's arrival (the trace's new loaded stamp): the wait's
# round trip for q, k and v against the dots over the cache
timeout 100 python3 benchmarks/bench_attention_trace.py --out $R/trace 2>&1 | grep -v "$F" | tail -16 > $R/trace.log
echo "trace rc ${PIPESTATUS[0]} at $(since) s" >> $R/trace.log
# the candidate combine (a tile a split: nothing through shared memory after the arrival) traced the same way, its
# GPU cases, then the 2b BF16 step on it against the default, one process, batch 1 and 16
VLMQ_ATTENTION_PLAN=combine=1 timeout 100 python3 benchmarks/bench_attention_trace.py --out $R/trace_combine1 2>&1 \
    | grep -v "$F" | tail -16 > $R/trace_combine1.log; echo "trace rc ${PIPESTATUS[0]} at $(since) s" >> $R/trace_combine1.log
timeout 90 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_attention_gpu.py -k combine1 \
    2>&1 | grep -v "$F" | grep -v "^$" | tail -4 > $R/combine1_tests.log
echo "tests rc ${PIPESTATUS[0]} at $(since) s" >> $R/combine1_tests.log
timeout 120 python3 benchmarks/bench_decode_ab.py --out $R/abcombine --model qwen2-vl-2b --recipes bf16 \
    --batch-sizes 1,16 --env VLMQ_ATTENTION_PLAN --variants 'default;combine=1' --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/abcombine.log; echo "abcombine rc ${PIPESTATUS[0]} at $(since) s" >> $R/abcombine.log
timeout 80 python3 benchmarks/bench_decode_ab.py --out $R/abcombine7b --model qwen2-vl-7b --recipes bf16 \
    --batch-sizes 1 --env VLMQ_ATTENTION_PLAN --variants 'default;combine=1' --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/abcombine7b.log; echo "abcombine7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/abcombine7b.log
TABLE=src/vlmq/engine/kernels/tiles/h200.json
cp $TABLE $R/tiles_before.json
timeout 150 python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --fused --new-only --rows 1 --modes bf16 \
    --presets 2b --shapes qkv,o,gate_up --jobs 12 --budget-s 90 2>&1 | grep -v "$F" | grep -v "^  (" | tail -12 \
    > $R/sweep.log; echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
SOURCES=$(python3 -c "import json; print(' '.join(json.load(open('$TABLE'))['sources']))")
python3 benchmarks/bench_kernels.py --out $R/write --write-tiles $SOURCES $R/sweep/bench_kernels_sweep.json \
    > $R/write.log 2>&1; echo "write rc $? at $(since) s" >> $R/write.log
cp $TABLE $R/tiles_after.json && cp $R/tiles_before.json $TABLE
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b --recipes bf16 \
    --batch-sizes 1,16 --env VLMQ_TILES --variants "$TABLE;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/ab2b.log; echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
finish_call
cat $R/trace.log $R/trace_combine1.log $R/combine1_tests.log $R/abcombine/ab.md $R/abcombine7b/ab.md $R/sweep.log $R/write.log; cat $R/ab2b/ab.md 2>/dev/null; tail -n 2 $R/ab2b.log
