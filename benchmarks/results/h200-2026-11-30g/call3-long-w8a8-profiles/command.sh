set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-290}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# one GPU: the 8k x 16 point with its step profile: BF16 cache, FP8 static per-tensor scales, FP8 dynamic scales
( timeout 150 python3 -m vlmq run --model qwen2-vl-2b --recipes bf16,bf16+kv_fp8,bf16+kv_fp8_dyn --tasks speed-long \
    --launcher subprocess --baseline bf16 --quiet --fresh --out $R/long 2>&1 | grep -v "$F" | tail -8 > $R/gpu0.log; echo "long rc ${PIPESTATUS[0]}" >> $R/gpu0.log
# then W8A8 step profiles (2b, batch 1 and 16) of the current code
  timeout $(( $(left) - 5 )) python3 -m vlmq run --model qwen2-vl-2b --recipes smoothquant,fp8 --tasks speed-profile --speed-batch-sizes 1,16 \
    --launcher subprocess --baseline smoothquant --quiet --fresh --out $R/prof 2>&1 | grep -v "$F" | tail -8 > $R/gpu1.log; echo "prof rc ${PIPESTATUS[0]}" >> $R/gpu1.log ) &
P0=$!
wait $P0
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
cat $R/gpu0.log $R/gpu1.log
