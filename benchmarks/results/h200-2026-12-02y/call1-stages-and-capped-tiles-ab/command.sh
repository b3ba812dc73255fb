# Planned by the twenty-fifth session, run as call 1 of the twenty-sixth (h200-2026-12-02y): the attention's stages (below), then the BF16 one-row table written under the fixed --write-tiles rule (a
# case replaced only by a sweep that timed the table's tile) from its sources plus the twenty-fourth session's capped
# sweep and the twenty-fifth's eight-warp one: three tiles change (2b down 8.98 -> 8.84 us, 7b o 8.37 -> 8.30, 7b down
# 35.66 -> 34.54, each against the table's tile in the same sweep). The 2b and 7b BF16 steps A/B'd on it (the 2b
# bar: <= 1.25 ms/token; 1.266 now). If both gain: the same --write-tiles on main, then call 2's GPU tests.
# First (~120 s): the attention's loop without the software pipeliner (stages=1: a one-block split, every split at a
# 300-token context, then issues no cp.async prologue after its dots), its GPU cases, then the steps A/B'd on it.
. benchmarks/device_call.sh
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_attention_gpu.py -k stages1 \
    2>&1 | grep -v "$F" | grep -v "^$" | tail -4 > $R/stages1_tests.log
echo "tests rc ${PIPESTATUS[0]} at $(since) s" >> $R/stages1_tests.log
timeout 120 python3 benchmarks/bench_decode_ab.py --out $R/abstages --model qwen2-vl-2b --recipes bf16 \
    --batch-sizes 1,16 --env VLMQ_ATTENTION_PLAN --variants 'default;stages=1;stages=2' --rounds 3 2>&1 \
    | grep -v "$F" | tail -8 > $R/abstages.log; echo "abstages rc ${PIPESTATUS[0]} at $(since) s" >> $R/abstages.log
timeout 80 python3 benchmarks/bench_decode_ab.py --out $R/abstages7b --model qwen2-vl-7b --recipes bf16 \
    --batch-sizes 1 --env VLMQ_ATTENTION_PLAN --variants 'default;stages=1' --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/abstages7b.log; echo "abstages7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/abstages7b.log
TABLE=src/vlmq/engine/kernels/tiles/h200.json
cp $TABLE $R/tiles_before.json
SOURCES=$(python3 -c "import json; print(' '.join(json.load(open('$TABLE'))['sources']))")
python3 benchmarks/bench_kernels.py --out $R/write --write-tiles $SOURCES \
    benchmarks/results/h200-2026-12-02w/call2-trace-bf16-capped-sweep/sweep/bench_kernels_sweep.json \
    benchmarks/results/h200-2026-12-02x/call1-trace-combine1-whole-row-tiles/sweep/bench_kernels_sweep.json \
    > $R/write.log 2>&1; echo "write rc $? at $(since) s" >> $R/write.log
cp $TABLE $R/tiles_after.json && cp $R/tiles_before.json $TABLE
timeout 150 python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b --recipes bf16 \
    --batch-sizes 1,16 --env VLMQ_TILES --variants "$TABLE;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/ab2b.log; echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes bf16 \
    --batch-sizes 1 --env VLMQ_TILES --variants "$TABLE;$R/tiles_after.json" --rounds 3 2>&1 | grep -v "$F" \
    | tail -8 > $R/ab7b.log; echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
finish_call
cat $R/stages1_tests.log $R/abstages/ab.md $R/abstages7b/ab.md $R/write.log $R/ab2b/ab.md $R/ab7b/ab.md; tail -n 2 $R/ab2b.log $R/ab7b.log
