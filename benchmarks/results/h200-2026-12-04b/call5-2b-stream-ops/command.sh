# (Run from benchmarks/planned/ as BUDGET=300 CALL=b5: the forty-second session's call 5, 44 s from a cold start; its `work` part stopped at its first case -- call 6 reran it.)
# Planned by the forty-second session (BUDGET=300, from a cold start, carrying .whl and build/packed), after its call 4
# found the 2b gate/up's one-row GEMVs 3-4 us above a stream of their own bytes (int8 12.7 us fused alone against 9.2
# at the GEMV's load shape; int4 10.8 against 5.6): is it the work a word? The same words at the int8 / int4 tiles'
# load shape (8 rows a program, 256 bytes a row a load, one warp) through 0-24 dependent operations a word, with and
# without a GEMV's activation loads; then the 2b int4 words through a GEMV's own arithmetic (--work dot, dot-scaled,
# bits) at that shape and at 16 rows / 4 warps.
. benchmarks/device_call.sh
timeout 150 python3 benchmarks/bench_weight_stream.py --out $R/ops --matrices "2b gate_up int8,2b gate_up int4" \
    --rows 8 --words 64 --warps 1 --stages 1,3 --ops 0,4,8,12,16,24 --act 0,1 --reps 20 2>&1 | grep -v "$F" > $R/ops.log
echo "ops rc ${PIPESTATUS[0]} at $(since) s" >> $R/ops.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_weight_stream.py --out $R/work --matrices "2b gate_up int4" \
    --work xor,dot,dot-scaled,bits --rows 8,16 --words 16,64 --warps 1,4 --stages 1 --reps 20 2>&1 | grep -v "$F" \
    > $R/work.log
echo "work rc ${PIPESTATUS[0]} at $(since) s" >> $R/work.log
finish_call
grep "^| 2b" $R/ops.log | sort -t'|' -k2,2 -k7,7 -k8,8n -k9,9n | head -60; grep "^| 2b" $R/work.log; tail -2 $R/ops.log $R/work.log
