set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-420}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
( # the 8k x 16 point again, with the FP8 scale tables aligned: BF16, FP8 static, FP8 dynamic
  timeout 150 python3 -m vlmq run --model qwen2-vl-2b --recipes bf16,bf16+kv_fp8,bf16+kv_fp8_dyn --tasks speed-long \
    --launcher subprocess --baseline bf16 --quiet --fresh --out $R/long 2>&1 | grep -v "$F" | tail -5 > $R/run.log; echo "long rc ${PIPESTATUS[0]}" >> $R/run.log
  # GPU tests of what changed: FP8 caches with scale tables (static / per-head / visual-aware), prefill paths
  timeout $(( $(left) - 130 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_attention_gpu.py tests/engine/test_fused_gpu.py tests/engine/test_kernels_gpu.py \
    -k "static or per_head or visual or kv_fp8 or prefill" 2>&1 | tail -12 > $R/tests.log; echo "tests rc ${PIPESTATUS[0]}" >> $R/tests.log
  # the 7b weight-only first token with whole-weight dequantization again (what is committed)
  timeout $(( $(left) - 5 )) python3 benchmarks/bench_speed.py --out $R/ttft7b --models qwen2-vl-7b --recipes bf16,int8_wo,int4_wo \
    --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -8 >> $R/run.log; echo "ttft7b rc ${PIPESTATUS[0]}" >> $R/run.log ) &
P0=$!
wait $P0
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
cat $R/run.log $R/tests.log
