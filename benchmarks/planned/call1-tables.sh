# Planned by the thirty-first session (~330 s + ~330 s warm): every 2b recipe at batch 1 and 16 in one run with the
# q/k/v triggers it made the default for 8-bit weights (only BF16 and SmoothQuant reached bench_speed before its
# device time ran out), then the 7b's 8-bit rows beside its BF16 -- the bars hold for one run.
. benchmarks/device_call.sh
timeout 330 python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b \
    --recipes bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s 320 2>&1 | grep -v "$F" | tail -14 > $R/speed2b.log
echo "speed2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed2b.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b \
    --recipes bf16,int8_wo,fp8,smoothquant --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 12 )) 2>&1 | grep -v "$F" | tail -12 > $R/speed7b.log
echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
cat $R/speed2b.log $R/speed7b.log
