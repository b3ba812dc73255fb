set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-230}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# per-step kernel profiles of the 2b (batch 1, batch 16, first token) after the exact FP8 quotient and the W8A8 prefill tiles
( timeout $(( $(left) - 5 )) python3 benchmarks/bench_speed.py --out $R/profile2b --models qwen2-vl-2b --recipes fp8,bf16,smoothquant \
    --batch-sizes 1,16 --repeats 1 --tasks speed-profile --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -8 > $R/gpu0.log; echo "profile2b rc ${PIPESTATUS[0]}" >> $R/gpu0.log ) &
P0=$!
wait $P0
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
cat $R/gpu0.log; ls $R/profile2b
