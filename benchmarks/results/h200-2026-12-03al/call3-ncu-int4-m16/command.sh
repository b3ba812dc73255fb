# (Run from benchmarks/planned/ as BUDGET=420 CALL=al3: the fortieth session's call 3, 76 s warm after call 2, at 5d0d947.)
# Planned by the thirty-eighth session (BUDGET=420, from a cold start): why the 7b's 16-row int4 GEMVs stream their
# half-size bytes at 2.0 (gate/up) and 1.5 (down) TB/s where the 8-bit ones reach 3.5 and 3.0 (the batch-16 profiles,
# results/h200-2026-12-03aj/call2-7b-bs16-profiles): Nsight Compute on the shipped 16-row tiles of both formats, one
# launch each with the caches flushed -- DRAM throughput, occupancy, stalls, instructions, bytes; then read whether
# the int4 tile's 128-column K tile (the group cap in gemv.dot_config) is what holds it (planned/README.md's lead).
# (Thirty-ninth session: K tiles of two or four groups measured 1.1-1.8x slower, and with the group values a tile
# ahead the 7b down at 16 rows still takes 24.7 us, gate/up 35.6: what this call profiles is that tile.)
. benchmarks/device_call.sh
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
SECTIONS="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy \
    --section LaunchStats"
METRICS="regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum,dram__bytes_read.sum"
for CASE in 7b:down:int4-g128:16 7b:down:int8-a16:16 7b:gate_up:int4-g128:16 7b:gate_up:int8-a16:16; do
    timeout $(( $(left) / 4 > 90 ? 90 : $(left) / 4 )) $NCU --clock-control none -k regex:gemv_kernel $SECTIONS \
        --metrics "$METRICS" python3 benchmarks/ncu_gemv.py --calls 0 $CASE > $R/ncu_${CASE//:/_}.txt 2>&1
    echo "ncu $CASE rc $? at $(since) s" >> $R/ncu.log
done
finish_call
cat $R/ncu.log; for f in $R/ncu_*.txt; do echo "== $f"; grep -a "rows:\|Duration\|DRAM Throughput\|Achieved Occupancy\|Registers Per\|stalled_long\|stalled_barrier\|stalled_wait\|stalled_short\|stalled_mio\|stalled_lg\|stalled_math\|Memory Throughput\|inst_executed.sum\|dram__bytes\|Block Limit\|Grid Size\|Waves" $f | head -40; done
