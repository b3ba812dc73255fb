# Planned (twentieth session, not yet run): weight-side prefill work one layer ahead on a side stream.
. benchmarks/device_call.sh
timeout 200 python3 -m pytest -q -m gpu tests/engine/test_prefill_prepare_gpu.py 2>&1 | grep -v "$F" | tail -15 > $R/tests.log
echo "tests rc ${PIPESTATUS[0]} at $(since) s" >> $R/tests.log
timeout 120 python3 benchmarks/bench_dequant_overlap.py --out $R/overlap --preset 7b --formats int4 --slice-mb '' \
    2>&1 | grep -v "$F" | tail -12 > $R/overlap.log; echo "overlap rc ${PIPESTATUS[0]} at $(since) s" >> $R/overlap.log
for MODE in off side; do
    SHARE=$([ $MODE = off ] && echo 2 || echo 1)  # the first run leaves half of what is left to the second
    VLMQ_PREFILL_PREPARE=$MODE timeout $(( ($(left) - 10) / SHARE )) python3 benchmarks/bench_speed.py \
        --out $R/ttft_$MODE --models qwen2-vl-7b --recipes bf16,int4_wo --batch-sizes 1 --repeats 3 --tasks speed \
        --long-context-recipes '' 2>&1 | grep -v "$F" | tail -6 > $R/ttft_$MODE.log
done
finish_call
cat $R/tests.log $R/overlap.log; tail -n 4 $R/ttft_off.log $R/ttft_side.log
