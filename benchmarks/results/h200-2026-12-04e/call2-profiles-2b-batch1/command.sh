# Planned by the forty-fifth session (warm after call 1, BUDGET=420, `.whl/` and `build/packed/` carried): where the 2b
# batch-1 step goes on the decode attention as it now stands, for the recipes whose batch-1 bars are not met (issue 17:
# int8_wo <= 0.9 ms/token read 0.946, int4_wo <= 0.8 read 0.913, fp8 <= 0.9 read 1.127), beside BF16's -- the per-step
# profile the issues ask for where a bar is not reached (bench_speed.py's speed-profile: torch.profiler over compiled
# steps, us a decoder-layer place and kernels a layer; profiles.md).
. benchmarks/device_call.sh
speed_table prof2b qwen2-vl-2b bf16,int8_wo,int4_wo,fp8 $(( $(left) - 8 )) --tasks speed-profile --batch-sizes 1
finish_call
cat $R/prof2b.log; head -80 $R/prof2b/profiles.md
