set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-465}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: the 7b table
( export CUDA_VISIBLE_DEVICES=0
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int4_wo,smoothquant,fp8,int8_wo \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 40 )) 2>&1 | grep -v "$F" | tail -14 > $OUT/gpu0.log; echo "speed7b rc $?" >> $OUT/gpu0.log ) &
P0=$!
# GPU 1: the 2b table, then the GPU tests fixed since the last call
( export CUDA_VISIBLE_DEVICES=1
  timeout 310 python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int4_wo,smoothquant,fp8,int8_wo \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s 285 2>&1 | grep -v "$F" | tail -14 > $OUT/gpu1.log; echo "speed2b rc $?" >> $OUT/gpu1.log
  timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_attention_gpu.py tests/engine/test_fused_gpu.py \
    -k "long_cache_visual or slot_in_last_block or six_kernels" 2>&1 | tail -30 > $OUT/tests.log ) &
P1=$!
wait $P0 $P1
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
cat $OUT/gpu0.log $OUT/gpu1.log; tail -12 $OUT/tests.log
