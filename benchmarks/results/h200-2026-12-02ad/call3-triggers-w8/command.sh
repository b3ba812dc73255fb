# Thirty-first session, call 3: two launch settings of the 2b's 8- and 4-bit steps never measured in whole steps.
# (1) The PDL triggers of the 8-bit recipes' GEMVs (the sixteenth session chose pdl.MEASURED_EARLY from BF16 and
# int4_wo runs only): call 2's profile has the attention add 5.9 us a layer after BF16's q/k/v at batch 16 (which
# triggers early) and 9.0 after int8_wo's (late). (2) Where the RMSNorm of the 2b's int8 / int4 GEMVs runs
# ($VLMQ_NORM_FIRST, new): the rule keeps it in the prologue at K = 1536 from kernel-alone timings of q/k/v; call 2's
# profile has int8_wo's gate/up add 13.7 us a layer where W8A8's row kernel and gate/up add 11.2-12.4.
# One process a recipe, 3 interleaved rounds each.
. benchmarks/device_call.sh
timeout 330 python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b \
    --recipes int8_wo,smoothquant,fp8 --batch-sizes 16,1 --variants 'measured;qkv;o' --rounds 3 2>&1 \
    | grep -v "$F" | tail -30 > $R/ab2b.log
echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/norm2b --model qwen2-vl-2b \
    --recipes int8_wo,int4_wo --batch-sizes 1 --env VLMQ_NORM_FIRST --variants 'measured;gate_up;qkv,gate_up' \
    --rounds 3 2>&1 | grep -v "$F" | tail -20 > $R/norm2b.log
echo "norm2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/norm2b.log
finish_call
cat $R/ab2b.log $R/norm2b.log
