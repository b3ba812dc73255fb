set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-330}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0 alone (nothing else on the host): the 2b first token and decode, 3 repeats
( export CUDA_VISIBLE_DEVICES=0
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,fp8,smoothquant,int8_wo \
    --batch-sizes 1,16 --repeats 3 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -10 > $R/gpu0.log; echo "speed2b rc ${PIPESTATUS[0]}" >> $R/gpu0.log ) &
P0=$!
wait $P0
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r
cat $R/gpu0.log
