# Planned by the forty-third session (no device time; BUDGET=560 from a cold start, `.whl/` carried; BF16 needs no
# CUTLASS library): the fused decode attention, ~8 us of every layer at batch 1 (the largest item of a 2b layer).
# Its sm_90 SASS (Triton 3.6, results/cpu-attention-phases-2026-12-04/) has a warp issue ~624 instructions in the
# 2.67 us between q rotated and the cache's block attended (the twenty-fifth session's trace), a third of the rate of
# the phase before: latency, with the block on chip before the PDL wait; Q K^T's 32 MMAs a warp issue as back-to-back
# dependent chains. (1) The candidate plan `block=32,splits=12` (32-slot blocks: ten one-block splits at the step's
# context, half the MMAs a program, 237 registers, the FP8 kernel's 120-byte spill gone; twice the partials to
# combine) A/B'd in whole BF16 decode steps, 2b at batch 1 and 16; (2) Nsight Compute's stall reasons and sampled
# stalls per instruction for the kernel alone (`benchmarks/ncu_attention.py`), default and candidate, BF16 and FP8;
# (3) the candidate's GPU cases (test_attention_gpu.py -k block32, added by the forty-fourth session); (4) the 7b at
# batch 1 with what is left.
. benchmarks/device_call.sh
bf16_ab ab2b qwen2-vl-2b 1,16 VLMQ_ATTENTION_PLAN 'default;block=32,splits=12' 170
gpu_tests t_block32 110 tests/engine/test_attention_gpu.py -k block32
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
SECTIONS="--section SpeedOfLight --section WarpStateStats --section SourceCounters --section Occupancy \
    --section LaunchStats"
METRICS="regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum"
for CASE in "bf16 default" "bf16 block=32,splits=12" "dynamic default"; do
    set -- $CASE
    PLAN=$2; [ "$PLAN" = default ] && PLAN=
    VLMQ_ATTENTION_PLAN=$PLAN timeout $(( $(left) / 4 > 70 ? 70 : $(left) / 4 )) $NCU --clock-control none \
        -k regex:decode_attention_kernel --launch-skip 1 --launch-count 2 $SECTIONS --metrics "$METRICS" \
        python3 benchmarks/ncu_attention.py --preset 2b --cache $1 --calls 2 > "$R/ncu_$1_${2//[,=]/-}.txt" 2>&1
    echo "ncu $CASE rc $? at $(since) s" >> $R/ncu.log
done
bf16_ab ab7b qwen2-vl-7b 1 VLMQ_ATTENTION_PLAN 'default;block=32,splits=12'
finish_call
cat $R/ab2b.log $R/ab7b.log $R/ncu.log; tail -15 $R/t_block32.log
for f in $R/ncu_*.txt; do echo "== $f"; grep -a "calls, output\|Duration\|Registers Per\|Achieved Occupancy\|stalled_barrier\|stalled_long\|stalled_short\|stalled_wait\|stalled_math\|stalled_mio\|stalled_lg\|stalled_no_inst\|stalled_dispatch\|stalled_membar\|stalled_branch\|inst_executed.sum\|Warp Cycles Per Issued\|Local Memory" $f | head -40; done
