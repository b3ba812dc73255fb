set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-555}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: the toy end to end through the eager GPU engine, against the CPU run
( export CUDA_VISIBLE_DEVICES=0
  timeout $(( $(left) - 40 )) python3 -m vlmq run --model toy --recipes bf16,int8_wo,int4_wo,smoothquant,fp8,int4_awq,fp8+kv_fp8_text,nvfp4,fp8+kv_fp8_vis \
    --tasks shapes-vqa,shapes-pope,shapes-mme --limit 120 --compile false --out $R/e2e_eager --quiet --fresh > $R/e2e.log 2>&1; echo "e2e rc $?" >> $R/e2e.log
  [ -f $R/e2e_eager/results.jsonl ] || timeout 25 python3 -m vlmq report $R/e2e_eager 2>&1 | tail -2 >> $R/e2e.log
  python3 benchmarks/compare_runs.py benchmarks/results/cpu-toy/results.jsonl $R/e2e_eager/results.jsonl --tol 1 > $R/compare_eager.md 2>&1; echo "compare rc $?" >> $R/e2e.log ) &
P0=$!
# GPU 1: 7b profiles (decode step and first token) of the recipes whose bars are not met
( export CUDA_VISIBLE_DEVICES=1
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/profile7b --models qwen2-vl-7b --recipes smoothquant,int8_wo,bf16 \
    --batch-sizes 1 --repeats 1 --tasks speed-profile --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -8 > $R/gpu1.log; echo "profile7b rc ${PIPESTATUS[0]}" >> $R/gpu1.log ) &
P1=$!
wait $P0 $P1
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r
tail -n 3 $R/e2e.log; grep -v "+0.0" $R/compare_eager.md | tail -20; cat $R/gpu1.log
