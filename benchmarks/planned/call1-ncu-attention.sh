# Planned by the forty-third session (no device time; BUDGET=300 from a cold start, `.whl/` carried, no library needed):
# where the fused decode attention's warps wait. Its SASS (Triton 3.6, results/cpu-attention-phases-2026-12-04/) has a
# warp issue ~600 instructions in the 2.67 us between q rotated and the cache's blocks attended (the twenty-fifth
# session's trace) against ~530 in the 0.83 us before: that phase waits on something other than issuing. Nsight
# Compute on the kernel alone as the 2b step launches it, the caches flushed before each profiled launch (the blocks
# from HBM): stall reasons a warp, and the SourceCounters section's sampled stalls at each instruction (the Q K^T
# chain, the softmax's barriers, P V's shared loads, the blocks loaded before the wait). BF16 and FP8 caches at the
# default plan (two warps; the FP8 compile spills 120 bytes a thread), BF16 at four warps (198 registers; 1.031x in a
# 2b step in the twenty-third session).
. benchmarks/device_call.sh
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
SECTIONS="--section SpeedOfLight --section WarpStateStats --section SourceCounters --section Occupancy \
    --section LaunchStats"
METRICS="regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum"
for CASE in "bf16 default" "dynamic default" "bf16 warps=4"; do
    set -- $CASE
    PLAN=$2; [ "$PLAN" = default ] && PLAN=
    VLMQ_ATTENTION_PLAN=$PLAN timeout $(( $(left) / 3 > 120 ? 120 : $(left) / 3 )) $NCU --clock-control none \
        -k regex:decode_attention_kernel --launch-skip 1 --launch-count 2 $SECTIONS --metrics "$METRICS" \
        python3 benchmarks/ncu_attention.py --preset 2b --cache $1 --calls 2 > $R/ncu_$1_$2.txt 2>&1
    echo "ncu $CASE rc $? at $(since) s" >> $R/ncu.log
done
finish_call
cat $R/ncu.log; for f in $R/ncu_*.txt; do echo "== $f"; grep -a "calls, output\|Duration\|Registers Per\|Achieved Occupancy\|stalled_barrier\|stalled_long\|stalled_short\|stalled_wait\|stalled_math\|stalled_mio\|stalled_lg\|stalled_no_inst\|stalled_dispatch\|stalled_membar\|stalled_branch\|inst_executed.sum\|Warp Cycles Per Issued\|Issued Warp\|Local Memory" $f | head -40; done
