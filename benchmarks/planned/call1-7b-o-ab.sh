# Planned by the thirty-fourth session (~200 s warm): the 7b int4_wo batch-16 step with the twenty-eighth session's
# 7b o_proj 16-row w4_mma entry added to the shipped table (which holds the 2b o entry the thirty-fourth session
# adopted), the candidate table made from the shipped one as the call runs. The 2b o entry alone made the 2b
# batch-16 step 0.963x; the 7b batch-16 "4-bit faster than fp8" bar is a tie (0.992, 0.979-1.006).
. benchmarks/device_call.sh
python3 benchmarks/bench_w4_mma.py --candidate-table "$R/tiles-7b-o.json" --adopt "2b o:16" "7b o:16"
RECIPE=int4_wo decode_ab ab7b qwen2-vl-7b 16 VLMQ_TILES "src/vlmq/engine/kernels/tiles/h200.json;$R/tiles-7b-o.json"
finish_call
cat $R/ab7b.log; cat $R/ab7b/ab.md 2>/dev/null
