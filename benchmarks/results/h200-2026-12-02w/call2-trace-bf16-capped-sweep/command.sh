# Planned (twenty-third session, not yet run): the BF16 one-row tiles again, now with the staged tiles under register
# caps of 96 and 80 (sweep_configs; the twenty-third session's sweep found the gate/up winners at one stage under cap
# 80 and the down / o winners staged and uncapped, and never timed the two together), and the caps on the new
# shipped (staged) tiles; then the table written from every recorded sweep plus this one and the whole 2b and 7b BF16
# steps on both, one process a preset. The 2b BF16 bar (<= 1.25 ms/token) is 24 us a step away (1.274). After it:
# if a preset's step gained, write the table here with the same --write-tiles sources (--veto for a preset whose
# step lost), then test_kernels_gpu.py -k bf16-bf16 and test_gpu_engines.py -k bf16, then the tables.
. benchmarks/device_call.sh
# first (~100 s): where the 2b BF16 step's attention spends its ~9.4 us a layer against ~6.4 alone -- every program's
# timestamps in the step and in isolation (bench_attention_trace.py, new: VLMQ_ATTENTION_TRACE), and the trace's cost
timeout 150 python3 benchmarks/bench_attention_trace.py --out $R/trace 2>&1 | grep -v "$F" | tail -16 > $R/trace.log
echo "trace rc ${PIPESTATUS[0]} at $(since) s" >> $R/trace.log
TABLE=src/vlmq/engine/kernels/tiles/h200.json
cp $TABLE $R/tiles_before.json
timeout $(( $(left) - 200 )) python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --fused --new-only --rows 1 \
    --modes bf16 --presets 2b,7b --jobs 14 --budget-s 150 2>&1 | grep -v "$F" | grep -v "^  (" | tail -30 > $R/sweep.log
echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
SOURCES=$(python3 -c "import json; print(' '.join(json.load(open('$TABLE'))['sources']))")
python3 benchmarks/bench_kernels.py --out $R/write --write-tiles $SOURCES $R/sweep/bench_kernels_sweep.json \
    > $R/write.log 2>&1; echo "write rc $? at $(since) s" >> $R/write.log
cp $TABLE $R/tiles_after.json && cp $R/tiles_before.json $TABLE
timeout $(( $(left) - 100 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b --recipes bf16 \
    --batch-sizes 1 --env VLMQ_TILES --variants "$TABLE;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/ab2b.log; echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes bf16 \
    --batch-sizes 1 --env VLMQ_TILES --variants "$TABLE;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/ab7b.log; echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
finish_call
cat $R/trace.log $R/sweep.log $R/write.log; cat $R/ab2b/ab.md $R/ab7b/ab.md 2>/dev/null; tail -n 2 $R/ab2b.log $R/ab7b.log
