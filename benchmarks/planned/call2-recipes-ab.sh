# Planned by the thirty-eighth session (BUDGET=480, warm after call 1): the "4-bit faster than 8-bit" batch-16 bars
# without the table's drift -- bench_decode_ab.py --env recipe (an engine a recipe, all resident, 3 interleaved
# rounds): the 2b int4_awq against int4_wo and fp8 (the table read int4_awq 1.019x fp8, 2.3 % behind int4_wo, whose
# kernels it shares: slower in 4 of the last 5 tables, always run after int4_wo) and the 7b int4_awq / int4_wo against
# int8_wo (1.002x / 0.994x). Then the 2b at batch 1 too, where the same question holds for the 0.8 / 0.9 bars' order.
. benchmarks/device_call.sh
decode_ab ab2b qwen2-vl-2b 16,1 recipe 'fp8;int4_wo;int4_awq' $(( $(left) / 2 ))
decode_ab ab7b qwen2-vl-7b 16 recipe 'int8_wo;int4_wo;int4_awq' $(( $(left) - 8 ))
finish_call
cat $R/ab2b.log $R/ab7b.log
