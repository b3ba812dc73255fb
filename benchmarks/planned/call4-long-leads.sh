# Planned by the forty-fourth session (BUDGET=420, `.whl/` carried; decode only): the leads its kernel-alone tables
# and the sm_90 SASS left at the long point (2b, 8192 cached tokens x batch 16, `vlmq run --tasks speed-long`, 3
# repeats each). (a) BF16 with `targets=512`: the unfused kernel at 512 programs took 43.5 us a layer against the fused
# kernel's 46.8 (256 programs, 4 warps, 3 stages). (b) The FP8 cache at 4 warps with fewer programs: at 4 warps (200
# registers a thread, 3 stages) two programs fit an SM, so its 512-program plan (15 splits x 32 heads = 480 programs)
# runs in two waves on 132 SMs, where 2 warps (255 registers) fit four and one wave -- the likely reason 4 warps lost
# there (2.696 against 2.553 ms/token) while winning every short case (batch 1 0.889x); at `targets=256` (8 splits,
# 256 programs) or 128 it is one wave. If one of them beats BF16's figure of the same call, FP8 caches can take 4 warps
# everywhere with that target (attention.attention_warps, ATTN_TARGET_PROGRAMS).
. benchmarks/device_call.sh
for CASE in "bf16 default" "bf16 targets=512" "bf16+kv_fp8 default" "bf16+kv_fp8 warps=4,targets=256" \
    "bf16+kv_fp8 warps=4,targets=128"; do
    set -- $CASE; PLAN=$2; [ "$PLAN" = default ] && PLAN=
    NAME=long_$(echo "$1_$2" | tr '+=,' '_-_')
    VLMQ_ATTENTION_PLAN=$PLAN timeout 85 python3 -m vlmq run --model qwen2-vl-2b --recipes $1 --tasks speed-long \
        --launcher subprocess --quiet --fresh --out "$R/$NAME" 2>&1 | grep -v "$F" | tail -2 >> $R/long.log
    echo "long $CASE rc ${PIPESTATUS[0]} at $(since) s" >> $R/long.log
done
rm -f "$R"/long_*/*.sqlite* 2>/dev/null
finish_call
for f in $R/long_*/results.jsonl; do grep -h decode_ms_per_token $f | python3 -c "
import sys, json
for line in sys.stdin:
    r = json.loads(line); print('$f', r['recipe'], round(r['value'], 3), round(r['ci_low'], 3), round(r['ci_high'], 3))"; done
cat $R/long.log
