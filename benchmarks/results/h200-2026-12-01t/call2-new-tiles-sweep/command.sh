# Run in the twenty-first session (planned in the twentieth): the one-row fused sweep of the staged and register-capped tiles.
# The budget counts from after the compile warm-up (run_sweep), hence 200 s kept for it and the timeout.
. benchmarks/device_call.sh
cp src/vlmq/engine/kernels/tiles/h200.json $R/tiles_before.json
timeout $(( $(left) - 15 )) python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --fused --new-only --rows 1 \
    --modes int4-g128,int8-a16 --presets 7b,2b --jobs 14 --budget-s $(( $(left) - 200 )) 2>&1 | grep -v "$F" \
    | grep -v "^  (" | tail -40 > $R/sweep.log; echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
finish_call
cat $R/sweep.log
