# Thirty-first session, call 3: the PDL triggers of the 8-bit recipes' GEMVs, never measured (the sixteenth session
# chose pdl.MEASURED_EARLY from BF16 and int4_wo runs only). Call 2's profile: at 2b batch 16 the attention adds
# 5.9 us a layer after BF16's q/k/v (which triggers early) and 9.0 after int8_wo's (late). One process a recipe,
# 3 interleaved rounds: the default against q/k/v early, o early, both.
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b \
    --recipes int8_wo,smoothquant,fp8 --batch-sizes 16,1 --variants 'measured;qkv;o;qkv,o' --rounds 3 2>&1 \
    | grep -v "$F" | tail -30 > $R/ab2b.log
echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
finish_call
cat $R/ab2b.log
