# Planned (twenty-first session, not yet run): the rows the twenty-first session did not re-measure after its
# tiles (int8 one-row tiles, which W8A8 int8 reads too) and the side-stream prefill: every 2b recipe at batch 1
# and 16 in one run (the batch-16 4-bit-vs-8-bit bars are ties).
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
cat $R/speed2b.log
