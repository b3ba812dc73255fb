# Planned (twenty-fifth session, not yet run): the 7b W8 rows beside BF16 in one run, with the one-pass LayerNorms and
# the tile-a-split combine (the twenty-fifth session's 7b run stopped at its budget before them): int8_wo's TTFT ratio
# (1.208 across runs: its 14.0 ms before the faster tower, against this session's BF16) and both decode rows.
# bf16 first: the ratios need it in the same run. If call 1 wrote a table on main, its GPU checks first.
. benchmarks/device_call.sh
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/engine/test_kernels_gpu.py -k bf16-bf16 \
    2>&1 | grep -v "$F" | grep -v "^$" | tail -4 > $R/kernels.log; echo "kernels rc ${PIPESTATUS[0]} at $(since) s" >> $R/kernels.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b \
    --recipes bf16,int8_wo,smoothquant --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 12 )) 2>&1 | grep -v "$F" | tail -12 > $R/speed7b.log
echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
cat $R/kernels.log $R/speed7b.log
