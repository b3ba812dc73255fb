# Planned by the forty-fourth session (BUDGET=400, `.whl/` carried; decode only): the leads its kernel-alone tables
# left at long contexts. At 8192 x 16 the unfused kernel at 512 programs took 43.5 us a layer against the fused BF16
# kernel's 46.8 (256 programs, 4 warps, 3 stages): the long point of bf16 with `targets=512` against the default, and
# of bf16+kv_fp8 with `targets=1024` (its 512 doubled), each 3 repeats (`vlmq run --tasks speed-long`); the FP8 KV
# bar needs FP8 below BF16 at whatever both take.
. benchmarks/device_call.sh
for CASE in "bf16 default" "bf16 targets=512" "bf16+kv_fp8 default" "bf16+kv_fp8 targets=1024"; do
    set -- $CASE; PLAN=$2; [ "$PLAN" = default ] && PLAN=
    VLMQ_ATTENTION_PLAN=$PLAN timeout 85 python3 -m vlmq run --model qwen2-vl-2b --recipes $1 --tasks speed-long \
        --launcher subprocess --quiet --fresh --out "$R/long_${1/+/_}_${2/=/-}" 2>&1 | grep -v "$F" | tail -2 >> $R/long.log
    echo "long $CASE rc ${PIPESTATUS[0]} at $(since) s" >> $R/long.log
done
rm -f "$R"/long_*/*.sqlite* 2>/dev/null
finish_call
for f in $R/long_*/results.jsonl; do grep -h decode_ms_per_token $f | python3 -c "
import sys, json
for line in sys.stdin:
    r = json.loads(line); print('$f', r['recipe'], round(r['value'], 3), round(r['ci_low'], 3), round(r['ci_high'], 3))"; done
cat $R/long.log
