# run as BUDGET=580 bash
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-580}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_q1; rm -rf $R; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_q1.tgz --exclude='img' -C /tmp r_q1 2>/dev/null && mv /tmp/r_q1.tgz $OUT/results.tgz; done ) &
COPIER=$!
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
# 1. the kernels whose source changed since the last device call (decode GEMV's xpart argument; attention + o_proj op)
for t in tests/engine/test_kernels_gpu.py tests/engine/test_attention_gpu.py tests/engine/test_fused_gpu.py tests/recipes/test_gpu_engines.py; do
  n=$(basename $t .py)
  timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --durations=5 $t 2>&1 | grep -v "^$" | tail -40 > $R/$n.log; echo "rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/$n.log
done
# 2. A/B: attention combined in its own kernel vs in o_proj's GEMV, 2b batch 1
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab_oproj --model qwen2-vl-2b --recipes bf16,int4_wo,int8_wo \
    --batch-sizes 1 --env VLMQ_ATTENTION_COMBINE --variants 'attention;o_proj' --rebuild --rounds 3 2>&1 | grep -v "$F" | tail -20 > $R/ab.log; echo "ab rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/ab.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_q1
for f in $R/*.log; do echo "== $f"; tail -n 12 $f; done
