# Twenty-third session, call 4 (the last ~350 s): the signed-zero K byte's inputs (the strict xfail run with
# --runxfail, which prints k, its partner, cos, sin and the token type at the differing entry), then the 2b int4_awq
# row that call 3's budget cut (with BF16 in the same run, for the ratios) and the 7b BF16 row on the new tiles.
. benchmarks/device_call.sh
timeout 80 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=long --runxfail tests/engine/test_attention_gpu.py \
    -k signed_zeros 2>&1 | grep -v "$F" | grep -v "^$" | tail -60 > $R/signed.log; echo "signed rc ${PIPESTATUS[0]} at $(since) s" >> $R/signed.log
timeout $(( $(left) - 75 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 90 )) 2>&1 | grep -v "$F" | tail -8 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
timeout $(( $(left) - 5 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b \
    --recipes bf16 --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' \
    --budget-s $(( $(left) - 15 )) 2>&1 | grep -v "$F" | tail -8 > $R/speed7b.log
echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
tail -n 30 $R/signed.log; tail -n 3 $R/speed2b.log $R/speed7b.log
