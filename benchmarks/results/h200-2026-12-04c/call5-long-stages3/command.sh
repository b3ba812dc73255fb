# Typed into the device call by the forty-fourth session (warm after call 4, BUDGET=200, `.whl/` carried): issue 17's
# long point (8192 cached tokens x batch 16) with 3 pipeliner stages, the FP8 cache at 2 warps and the BF16 one at 4 --
# the plans `attention_warps` and `attention_stages` then made the default.
. benchmarks/device_call.sh
for P in "fp8 warps=2,stages=3" "bf16 warps=4,stages=3"; do
    set -- $P; REC=bf16; [ $1 = fp8 ] && REC=bf16+kv_fp8
    VLMQ_ATTENTION_PLAN=$2 timeout 85 python3 -m vlmq run --model qwen2-vl-2b --recipes $REC --tasks speed-long \
        --launcher subprocess --quiet --fresh --out $R/long_$1 2>&1 | grep -v "$F" | tail -2
    echo "$P rc $? at $(since)"; grep -h decode_ms_per_token $R/long_$1/results.jsonl | cut -c1-400
done
finish_call
