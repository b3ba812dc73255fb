# Thirty-first session, call 5 (the session's last ~270 s of device time): the 2b BF16, SmoothQuant and int8_wo rows
# with the new q/k/v triggers as the default (pdl.MEASURED_EARLY), one repeat, as far as the budget goes.
. benchmarks/device_call.sh
timeout $(( $(left) - 6 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,smoothquant,int8_wo --batch-sizes 1,16 --repeats 1 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 10 )) 2>&1 | grep -v "$F" | tail -10 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
finish_call
cat $R/speed2b.log
