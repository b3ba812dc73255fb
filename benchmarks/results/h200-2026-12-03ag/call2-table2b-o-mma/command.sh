# (Run from benchmarks/planned/ as BUDGET=520 CALL=b2; the table it read, tiles-w4mma-o.json, now sits in ../call1-suite-seeded-w4mma-ab/ -- and, as the w4_mma entry it adds, in the shipped table.)
# Thirty-fourth session, call 2: the 2b table (every real recipe, batch 1 and 16, bench_speed.py) with the int4
# tensor-core GEMV on 2b o_proj at 9-16 rows (VLMQ_TILES = the shipped table + that one w4_mma entry), which call 1's
# A/B timed at 0.963x of the shipped int4_wo batch-16 step: the bars are judged on one run of every recipe.
. benchmarks/device_call.sh
export VLMQ_TILES=benchmarks/planned/tiles-w4mma-o.json
speed_table speed2b qwen2-vl-2b bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed2b.log; cat $R/speed2b/table.md 2>/dev/null
