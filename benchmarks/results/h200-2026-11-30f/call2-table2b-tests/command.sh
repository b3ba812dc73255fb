set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-535}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: the 2b table (batch 1 and 16), then the bf16 decode profile, then attention plans
( export CUDA_VISIBLE_DEVICES=0
  timeout 330 python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int8_wo,fp8,smoothquant,int4_wo \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s 300 2>&1 | grep -v "$F" > $OUT/gpu0.log; echo "speed rc $?" >> $OUT/gpu0.log
  timeout $(( $(left) - 75 )) python3 benchmarks/bench_speed.py --out $R/prof --models qwen2-vl-2b --recipes bf16 --batch-sizes 1,16 --tasks speed-profile \
    --long-context-recipes '' --budget-s 80 2>&1 | grep -v "$F" | tail -5 >> $OUT/gpu0.log; echo "prof rc $?" >> $OUT/gpu0.log
  timeout $(( $(left) - 10 )) python3 benchmarks/bench_attention.py --out $R/attention --sections attention --contexts 300 --cache-lengths 372 --batches 1,16 --replays 30 2>&1 | grep -v "$F" | tail -16 >> $OUT/gpu0.log
  echo "attention rc $?" >> $OUT/gpu0.log ) &
P0=$!
# GPU 1: the GPU tests in two processes
( export CUDA_VISIBLE_DEVICES=1
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_fused_gpu.py tests/recipes/test_gpu_engines.py 2>&1 > $OUT/testsA.log; echo "testsA rc $?" >> $OUT/testsA.log ) &
P1=$!
( export CUDA_VISIBLE_DEVICES=1
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_gpu.py tests/engine/test_attention_gpu.py tests/engine/test_kernels_gpu.py 2>&1 > $OUT/testsB.log; echo "testsB rc $?" >> $OUT/testsB.log ) &
P2=$!
wait $P0 $P1 $P2
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
tail -30 $OUT/gpu0.log; tail -15 $OUT/testsA.log; tail -15 $OUT/testsB.log
