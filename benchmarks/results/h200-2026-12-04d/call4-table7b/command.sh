# Planned by the forty-fourth session (BUDGET=560, `.whl/` and `build/packed/` carried): the 7b table of every real
# recipe in one run on the new decode-attention default (its A/B: 7b BF16 batch 1 3.755 -> 3.700 ms/token).
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
