# Planned by the forty-fifth session (BUDGET=400 from a cold start, `.whl/` and `build/packed/` carried): its 7b table
# (`../results/h200-2026-12-04d/call4-table7b/`) ran out of device time before int4_awq; this run times int4_awq beside
# BF16 (the bars are ratios to BF16 of the same run) and int4_wo (whose TTFT bar read 1.224x BF16 there, a tie in
# earlier runs: 1.190-1.202x).
. benchmarks/device_call.sh
speed_table speed7b qwen2-vl-7b bf16,int4_wo,int4_awq $(( $(left) - 8 ))
finish_call
cat $R/speed7b.log
