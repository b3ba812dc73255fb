# (Typed as one line: the thirty-ninth session's call 6, 74 s warm after call 5, at 70ac1fb, carrying .whl and
# build/packed.) Call 3's 7b batch-16 recipe A/B again with five rounds: int8_wo / int4_wo / int4_awq.
. benchmarks/device_call.sh 2>/dev/null; BUDGET=190; AB_ROUNDS=5 decode_ab ab7b qwen2-vl-7b 16 recipe 'int8_wo;int4_wo;int4_awq' 180; finish_call; cat $R/ab7b.log
