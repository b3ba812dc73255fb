set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-500}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
ROOT=$PWD
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
SPEED="--models qwen2-vl-2b --recipes bf16,int8_wo,fp8,int4_wo --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s 290"
# GPU 0: the session's starting code (23fce18), then attention plans at long contexts (this code)
( export CUDA_VISIBLE_DEVICES=0
  ( cd .old/base && PYTHONPATH=/tmp/site:$PWD/src eval timeout 320 python3 benchmarks/bench_speed.py --out $R/base $SPEED 2>&1 | grep -v "$F" | tail -12 > $OUT/gpu0.log )
  PYTHONPATH=/tmp/site:$ROOT/src timeout $(( $(left) - 10 )) python3 benchmarks/bench_attention.py --out $R/attn_long --sections attention --contexts 2048,8192 --batches 16 --replays 20 2>&1 | grep -v "$F" | tail -12 >> $OUT/gpu0.log
  echo "attention rc $?" >> $OUT/gpu0.log ) &
P0=$!
# GPU 1: this code: the same table, the bf16 profile, then the GPU tests the last call failed
( export CUDA_VISIBLE_DEVICES=1 PYTHONPATH=/tmp/site:$ROOT/src
  eval timeout 320 python3 benchmarks/bench_speed.py --out $R/new $SPEED 2>&1 | grep -v "$F" | tail -12 > $OUT/gpu1.log
  timeout 100 python3 benchmarks/bench_speed.py --out $R/prof --models qwen2-vl-2b --recipes bf16 --batch-sizes 1,16 --tasks speed-profile \
    --long-context-recipes '' --budget-s 70 2>&1 | grep -v "$F" | tail -3 >> $OUT/gpu1.log
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_attention_gpu.py -k "follows_the_context" 2>&1 | tail -5 > $OUT/tests.log
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_fused_gpu.py -k "six_kernels" 2>&1 | tail -25 >> $OUT/tests.log ) &
P1=$!
wait $P0 $P1
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
cat $OUT/gpu0.log $OUT/gpu1.log; tail -12 $OUT/tests.log
