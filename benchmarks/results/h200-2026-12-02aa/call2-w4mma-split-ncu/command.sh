# Twenty-eighth session, call 2: the int4 tensor-core GEMV with K split over CTAs and one- and two-warp CTAs -- its
# tests, every configuration (and split) timed against the Triton tiles (bench_w4_mma.py; the best per shape into a
# tile table in $R), Nsight Compute's counters of the 7b gate/up through two configurations and the Triton tile, then
# the 7b and 2b int4_wo decode steps A/B'd between the shipped table and that one (VLMQ_TILES), time allowing.
. benchmarks/device_call.sh
timeout 150 python3 -m pytest -q -x -m gpu -p no:cacheprovider --tb=short tests/engine/test_w4_mma_gpu.py \
    2>&1 | grep -v "$F" | tail -25 > $R/test.log
echo "test rc ${PIPESTATUS[0]} at $(since) s" >> $R/test.log
timeout 200 python3 benchmarks/bench_w4_mma.py --out $R/bench --reps 20 --write-tiles --tiles-out $R/tiles.json \
    2>&1 | grep -v "$F" > $R/bench.log
echo "bench rc ${PIPESTATUS[0]} at $(since) s" >> $R/bench.log
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
for MMA in 1,1,4,1; do
    timeout 60 $NCU --clock-control none -k regex:w4_gemv_kernel --section SpeedOfLight --section MemoryWorkloadAnalysis \
        --section WarpStateStats --section Occupancy --section LaunchStats \
        --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum,dram__bytes_read.sum" \
        python3 benchmarks/ncu_gemv.py --calls 0 --mma $MMA 7b:gate_up:int4-g128 > $R/ncu_$MMA.txt 2>&1
    echo "ncu $MMA rc $? at $(since) s" >> $R/ncu.log
done
ab() {  # ab NAME MODEL BATCHES
    timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/$1 --model $2 --recipes int4_wo \
        --batch-sizes $3 --env VLMQ_TILES --variants "$PWD/src/vlmq/engine/kernels/tiles/h200.json;$R/tiles.json" \
        --rounds 3 2>&1 | grep -v "$F" | tail -8 > $R/$1.log
    echo "$1 rc ${PIPESTATUS[0]} at $(since) s" >> $R/$1.log
}
if [ -f $R/tiles.json ] && [ "$(left)" -gt 200 ]; then ab ab7b qwen2-vl-7b 1; fi
if [ -f $R/tiles.json ] && [ "$(left)" -gt 120 ]; then ab ab2b qwen2-vl-2b 1,16; fi
finish_call
cat $R/test.log; tail -18 $R/bench.log; cat $R/ncu.log; for f in $R/ncu_*.txt; do grep -a "Duration\|DRAM Throughput\|Achieved Occupancy\|Registers Per\|Stall\|stalled_long\|stalled_barrier\|stalled_math\|stalled_wait\|stalled_short\|Memory Throughput\|inst_executed.sum\|dram__bytes" $f | head -40; done; cat $R/ab7b/ab.md $R/ab7b.log $R/ab2b/ab.md $R/ab2b.log 2>/dev/null
