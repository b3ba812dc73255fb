# Planned (twenty-fourth session, not yet run): the 7b table with every recipe in one run, batch 1 and 16, with the
# vision tower's one-pass LayerNorms (the default since the twenty-fourth session): the 7b TTFT ratio bars (int4_awq
# 1.203x BF16 was a tie on the wrong side; a faster shared tower raises every ratio a little) and the 7b rows of
# README's table from one run instead of four sessions'. The recipes in the order the bars need them (~200 s
# for four in earlier runs), so a budget stop loses the least needed.
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b \
    --recipes bf16,int4_awq,int4_wo,fp8,smoothquant,int8_wo --batch-sizes 1,16 --repeats 2 --tasks speed \
    --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed7b.log
echo "speed7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/speed7b.log
finish_call
cat $R/speed7b.log
