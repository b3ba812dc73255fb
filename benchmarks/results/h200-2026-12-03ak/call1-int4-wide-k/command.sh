# (Run from benchmarks/planned/ as BUDGET=420 CALL=w1: the thirty-ninth session's call 1, 97 s from a cold start, on the tree of e67125f before its group values were loaded ahead: the wide tiles as committed there, the loads in the K loop.)
# Planned by the thirty-ninth session (BUDGET=420, from a cold start): int4 fragment-order tiles whose K tile spans
# two or four groups (gemv.int4_block_k, new). Why: the shipped 16-row int4 tiles load 64 x 128 int4 weights (4 KB) a
# program an iteration, int8's 16 KB, and stream half the bytes at half the rate (7b gate/up 2.0, down 1.5 TB/s against
# 3.5 / 3.0; results/h200-2026-12-03aj/call2-7b-bs16-profiles); in the sm_90 PTX their scale and zero-point loads sit
# in the K loop unpipelined, once an iteration. First the new tiles' GPU tests (bf16-pair dequantization a chunk of
# a lane's words a group: only the GPU runs that path), then the sweep of the wide tiles (and the shipped tensor-core
# tiles with one and two more stages) against the shipped tile at 16 rows and at one row (both presets' q/k/v, o,
# gate/up, down); every candidate's output is checked against the shipped tile's before it is timed.
. benchmarks/device_call.sh
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short -n 6 tests/engine/test_kernels_gpu.py \
    -k "several_groups or fragment_order" 2>&1 | grep -v "$F" | tail -12 > $R/test.log
echo "test rc ${PIPESTATUS[0]} at $(since) s" >> $R/test.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --wide-k-only --modes int4-g128 \
    --presets 7b,2b --rows 16,1 --jobs 15 --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | grep -v "^  (" \
    | tail -30 > $R/sweep.log
echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
finish_call
cat $R/test.log $R/sweep.log
