set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-540}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: weight-only prefill with a second-stream dequantization (7b, then 2b), then the end-to-end toy runs
( export CUDA_VISIBLE_DEVICES=0
  timeout 150 python3 benchmarks/bench_dequant_overlap.py --out $R/dequant7b --preset 7b 2>&1 | grep -v "$F" | tail -12 > $R/gpu0.log; echo "dequant7b rc ${PIPESTATUS[0]}" >> $R/gpu0.log
  timeout 80 python3 benchmarks/bench_dequant_overlap.py --out $R/dequant2b --preset 2b 2>&1 | grep -v "$F" | tail -12 >> $R/gpu0.log; echo "dequant2b rc ${PIPESTATUS[0]}" >> $R/gpu0.log
  for mode in compiled eager; do
    compile=$([ $mode = compiled ] && echo true || echo false)
    timeout $(( $(left) - ( $([ $mode = compiled ] && echo 90 || echo 15) ) )) python3 -m vlmq run --model toy --recipes bf16,int8_wo,int4_wo,smoothquant,fp8,int4_awq,nvfp4,fp8+kv_fp8_text,fp8+kv_fp8_vis \
      --tasks shapes-vqa,shapes-pope,shapes-mme --limit 120 --compile $compile --out $R/e2e_$mode --quiet --fresh 2>&1 | grep -v "$F" | tail -20 > $R/run_$mode.log
    echo "e2e $mode rc ${PIPESTATUS[0]}" >> $R/gpu0.log
    python3 benchmarks/compare_runs.py benchmarks/results/cpu-toy/results.jsonl $R/e2e_$mode/results.jsonl --tol 1 > $R/compare_$mode.md 2>&1
  done ) &
P0=$!
# GPU 1: every GPU test, in two processes
( export CUDA_VISIBLE_DEVICES=1
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_fused_gpu.py tests/recipes/test_gpu_engines.py 2>&1 | tail -40 > $R/testsA.log; echo "testsA rc ${PIPESTATUS[0]}" >> $R/testsA.log ) &
P1=$!
( export CUDA_VISIBLE_DEVICES=1
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests --ignore=tests/engine/test_fused_gpu.py --ignore=tests/recipes/test_gpu_engines.py 2>&1 | tail -40 > $R/testsB.log; echo "testsB rc ${PIPESTATUS[0]}" >> $R/testsB.log ) &
P2=$!
wait $P0 $P1 $P2
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
cat $R/gpu0.log; tail -n 6 $R/compare_*.md; tail -n 8 $R/testsA.log $R/testsB.log
