# Twenty-ninth session, call 4: why the 7b gate/up's int4 decode GEMVs stream at ~2.3-2.5 TB/s where the int8 one
# reaches ~3.6 -- Nsight Compute on the Triton int4 and int8 tiles the engine ships and on the tensor-core kernel with
# its weights through cp.async stages (configs 1,2,4,1 and 1,4,8,1: bytes in flight without registers), one launch
# each with the caches flushed: DRAM throughput, memory-pipe and L2 sectors, occupancy, stalls.
. benchmarks/device_call.sh
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
SECTIONS="--section SpeedOfLight --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables \
    --section WarpStateStats --section Occupancy --section LaunchStats"
METRICS="regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio,smsp__inst_executed.sum,dram__bytes_read.sum,dram__sectors_read.sum,lts__t_sectors_srcunit_tex_op_read.sum,lts__t_sectors_srcunit_tex_op_read_lookup_miss.sum,l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,l1tex__t_requests_pipe_lsu_mem_global_op_ldgsts.sum,l1tex__t_sectors_pipe_lsu_mem_global_op_ldgsts.sum"
for CASE in 7b:gate_up:int4-g128 7b:gate_up:int8-a16; do
    timeout 90 $NCU --clock-control none -k regex:gemv_kernel $SECTIONS --metrics "$METRICS" \
        python3 benchmarks/ncu_gemv.py --calls 0 $CASE > $R/ncu_triton_${CASE//:/_}.txt 2>&1
    echo "ncu $CASE rc $? at $(since) s" >> $R/ncu.log
done
for MMA in 1,2,4,1 1,4,8,1; do
    timeout 90 $NCU --clock-control none -k regex:w4_gemv_kernel $SECTIONS --metrics "$METRICS" \
        python3 benchmarks/ncu_gemv.py --calls 0 --mma $MMA 7b:gate_up:int4-g128 > $R/ncu_mma_$MMA.txt 2>&1
    echo "ncu mma $MMA rc $? at $(since) s" >> $R/ncu.log
done
finish_call
cat $R/ncu.log; for f in $R/ncu_*.txt; do echo "== $f"; grep -a "Duration\|DRAM Throughput\|Achieved Occupancy\|Registers Per\|stalled_long\|stalled_barrier\|stalled_wait\|stalled_short\|stalled_mio\|stalled_lg\|Memory Throughput\|L2 Hit\|Mem Busy\|Max Bandwidth\|inst_executed.sum\|dram__bytes\|sectors\|requests\|Block Limit" $f | head -40; done
