# Call 2 (eighteenth session): Nsight Compute's counters of the decode GEMV (what bounds int4 at 2.3 TB/s on the 7b
# gate/up where int8 streams 3.5 and bf16 3.8), then the kernel GPU tests on call 1's tiles.
. benchmarks/device_call.sh
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
echo "ncu: $NCU" > $R/ncu.log
timeout 240 $NCU --clock-control none -k regex:gemv_kernel --section SpeedOfLight --section ComputeWorkloadAnalysis \
    --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy \
    --section LaunchStats --section InstructionStats \
    --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,regex:sm__inst_executed_pipe_.*\.avg\.pct_of_peak_sustained_active,regex:sm__pipe_.*_cycles_active\.avg\.pct_of_peak_sustained_active,smsp__inst_executed.sum,dram__bytes_read.sum" \
    python3 benchmarks/ncu_gemv.py --calls 0 7b:gate_up:int4-g128 7b:down:int4-g128 7b:gate_up:int8-a16 7b:gate_up:bf16 2b:gate_up:int4-g128 \
    > $R/ncu.txt 2>&1; echo "ncu rc $? at $(since) s" >> $R/ncu.log
timeout $(( $(left) - 100 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_kernels_gpu.py 2>&1 | grep -v "^$" | tail -12 > $R/kernels.log; echo "rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_fused_gpu.py 2>&1 | grep -v "^$" | tail -12 > $R/fused.log; echo "rc ${PIPESTATUS[0]} at $(since) s" >> $R/fused.log
finish_call
cat $R/ncu.log; grep -v "$F" $R/ncu.txt | grep -i "gemv_kernel\|Duration\|DRAM Throughput\|Memory Throughput\|Issue Slots\|Warp Cycles Per Issued\|Achieved Occupancy\|Registers Per\|pipe_alu\|pipe_fma\|stalled_long\|stalled_math\|stalled_wait\|stalled_lg\|stalled_short\|stalled_not_sel\|stalled_no_inst\|^[0-9a-z]* [a-z_]*: (" | cut -c1-150 | head -150; tail -4 $R/kernels.log $R/fused.log
