# (Typed as one line: the thirty-ninth session's call 5, 70 s warm after call 4, at 70ac1fb, carrying .whl and
# build/packed.) Call 3's 2b batch-16 recipe A/B again with five rounds: fp8 / int4_wo / int4_awq.
. benchmarks/device_call.sh 2>/dev/null; BUDGET=250; AB_ROUNDS=5 decode_ab ab2b qwen2-vl-2b 16 recipe 'fp8;int4_wo;int4_awq' 240; finish_call; cat $R/ab2b.log
