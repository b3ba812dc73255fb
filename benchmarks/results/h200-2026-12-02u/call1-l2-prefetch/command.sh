# Twenty-second session, call 1: the MLP's weights prefetched into L2 by q/k/v (at its end) or o_proj (as it starts)
# while the decode attention leaves HBM idle ($VLMQ_L2_PREFETCH), A/B in one process per preset, then the GPU checks.
. benchmarks/device_call.sh
V2='off;qkv:16;qkv:32;qkv:48;o:16;o:32'
timeout $(( $(left) / 2 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b \
    --recipes bf16,int8_wo,int4_wo --batch-sizes 1 --env VLMQ_L2_PREFETCH --variants "$V2" --rounds 3 2>&1 \
    | grep -v "$F" | tail -24 > $R/ab2b.log
echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
timeout $(( $(left) - 150 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b \
    --recipes bf16,int8_wo --batch-sizes 1 --env VLMQ_L2_PREFETCH --variants 'off;qkv:16;qkv:32;o:32' --rounds 3 2>&1 \
    | grep -v "$F" | tail -16 > $R/ab7b.log
echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
timeout $(( $(left) - 8 )) python3 -m pytest -q -p no:cacheprovider tests/engine/test_l2_prefetch.py \
    tests/recipes/test_gpu_engines.py -k "l2_prefetch" 2>&1 | grep -v "$F" | tail -15 > $R/tests.log
echo "tests rc ${PIPESTATUS[0]} at $(since) s" >> $R/tests.log
finish_call
cat $R/ab2b/ab.md $R/ab7b/ab.md 2>/dev/null; tail -n 4 $R/ab2b.log $R/ab7b.log $R/tests.log
