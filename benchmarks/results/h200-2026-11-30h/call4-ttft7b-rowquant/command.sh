set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-330}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: the 7b first token alone (bf16, fp8, smoothquant; nothing else on the host)
( export CUDA_VISIBLE_DEVICES=0 PYTHONPATH=/tmp/site:$PWD/src
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/ttft7b --models qwen2-vl-7b --recipes bf16,fp8,smoothquant \
    --batch-sizes 1 --repeats 3 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -8 > $R/gpu0.log; echo "ttft7b rc ${PIPESTATUS[0]}" >> $R/gpu0.log ) &
P0=$!
# GPU 1: the row quantization (SiLU·mul + normalize_rows) int8 vs e4m3, this code and the seventh session's (a28e472)
( export CUDA_VISIBLE_DEVICES=1
  for rows in 300 16; do
    PYTHONPATH=/tmp/site:$PWD/src timeout 100 python3 benchmarks/bench_act_quant.py --out $R/aq_new_$rows --rows $rows 2>&1 | grep -v "$F" | tail -5 >> $R/gpu1.log
    PYTHONPATH=/tmp/site:$PWD/.old/base_a28/src timeout 100 python3 benchmarks/bench_act_quant.py --out $R/aq_old_$rows --rows $rows 2>&1 | grep -v "$F" | tail -5 | sed 's/^/old: /' >> $R/gpu1.log
  done ) &
P1=$!
wait $P0 $P1
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
cat $R/gpu1.log $R/gpu0.log
