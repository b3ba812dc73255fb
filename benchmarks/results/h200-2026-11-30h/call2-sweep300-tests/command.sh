set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-550}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
SW=benchmarks/results/h200-2026-11-30h/call2-sweep300-tests/sweep
# GPU 1: W8A8 prefill tiles at 300 rows (64-row tiles, K slices), the table rewritten with them, then the 2b TTFT
( export CUDA_VISIBLE_DEVICES=1
  timeout 300 python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --presets 2b,7b --rows 300 --modes int8-a8,fp8-a8 \
    --budget-s 230 2>&1 | grep -v "$F" | tail -30 > $R/sweep.log; echo "sweep rc ${PIPESTATUS[0]}" >> $R/sweep.log
  mkdir -p $SW && cp $R/sweep/bench_kernels_sweep.json $SW/
  SRC=$(python3 -c "import json;print(' '.join(json.load(open('src/vlmq/engine/kernels/tiles/h200.json'))['sources']))")
  python3 benchmarks/bench_kernels.py --out $R/wt --write-tiles $SRC $SW/bench_kernels_sweep.json 2>&1 | tail -2 >> $R/sweep.log
  cp src/vlmq/engine/kernels/tiles/h200.json $R/h200.json
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,fp8,smoothquant \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -12 > $R/gpu1.log; echo "speed2b rc ${PIPESTATUS[0]}" >> $R/gpu1.log ) &
P1=$!
# GPU 0: every GPU test, in two processes
( export CUDA_VISIBLE_DEVICES=0
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_fused_gpu.py tests/recipes/test_gpu_engines.py 2>&1 | tail -40 > $R/testsA.log; echo "testsA rc ${PIPESTATUS[0]}" >> $R/testsA.log ) &
P2=$!
( export CUDA_VISIBLE_DEVICES=0
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests --ignore=tests/engine/test_fused_gpu.py --ignore=tests/recipes/test_gpu_engines.py 2>&1 | tail -40 > $R/testsB.log; echo "testsB rc ${PIPESTATUS[0]}" >> $R/testsB.log ) &
P3=$!
wait $P1 $P2 $P3
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
cat $R/sweep.log; cat $R/gpu1.log; tail -n 8 $R/testsA.log $R/testsB.log
