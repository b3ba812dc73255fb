set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-545}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 1: RMSNorm in the tensor-core prologue vs normalize_rows first (M = 16), then the 2b table
( export CUDA_VISIBLE_DEVICES=1
  timeout 170 python3 benchmarks/bench_kernels.py --out $R/kern --presets 2b,7b --shapes qkv,gate_up --rows 16 \
    --modes bf16,int8-a16,int4-g128 --budget-s 110 2>&1 | grep -v "$F" | tail -45 > $R/kern.log; echo "kern rc ${PIPESTATUS[0]}" >> $R/kern.log
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int8_wo,int4_wo,fp8,smoothquant \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -20 > $R/gpu1.log; echo "speed2b rc ${PIPESTATUS[0]}" >> $R/gpu1.log ) &
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
tail -n 30 $R/kern.log; cat $R/gpu1.log; tail -n 8 $R/testsA.log $R/testsB.log
