# Planned (twenty-third session, not yet run): the vision tower's LayerNorms reduced in one pass (wide_rows) against
# the default compile, in isolation (the 2b vision bar, <= 4 ms, is a tie on the wrong side: 4.011, 3.999-4.024),
# the 2b BF16 step's PDL triggers again on the staged tiles, then the 2b table with every recipe in one run (~330 s:
# the twenty-third session's call 3 ran out of budget before int4_awq after ~150 s of tests). Run after calls 1 and 2
# (and after writing call 2's table if it gained).
. benchmarks/device_call.sh
timeout 150 python3 benchmarks/bench_attention.py --out $R/vis --sections vision_options --image-sizes 448 2>&1 \
    | grep -v "$F" | tail -12 > $R/vis.log; echo "vis rc ${PIPESTATUS[0]} at $(since) s" >> $R/vis.log
# the PDL triggers were measured on the old BF16 tiles (sixteenth session): the staged ones stream differently
timeout 90 python3 benchmarks/bench_decode_ab.py --out $R/pdl2b --model qwen2-vl-2b --recipes bf16 --batch-sizes 1 \
    --env VLMQ_PDL_TRIGGER --variants 'measured;down;gate_up;o' --rounds 3 2>&1 | grep -v "$F" | tail -8 > $R/pdl2b.log
echo "pdl2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/pdl2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
cat $R/vis.log $R/pdl2b.log $R/speed2b.log
