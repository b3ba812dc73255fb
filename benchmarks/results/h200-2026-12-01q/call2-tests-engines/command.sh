# run as BUDGET=580 bash
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-580}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_q2; rm -rf $R; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_q2.tgz --exclude='img' -C /tmp r_q2 2>/dev/null && mv /tmp/r_q2.tgz $OUT/results.tgz; done ) &
COPIER=$!
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
# 1. the fused projections (call 1 failed 2b int4 batch 1): every case, whole tracebacks
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short -k "fused_layer_projections or prefill_paths" tests/engine/test_kernels_gpu.py 2>&1 | grep -v "^$" | tail -150 > $R/kernels.log; echo "rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/kernels.log
# 2. eager = compiled greedy answers, every real recipe (default decode path and attention combined in o_proj)
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --durations=5 tests/recipes/test_gpu_engines.py 2>&1 | grep -v "^$" | tail -60 > $R/engines.log; echo "rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/engines.log
# 3. kernels per layer, fused logits = eager, the decode step captured again
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider --durations=5 tests/engine/test_fused_gpu.py 2>&1 | grep -v "^$" | tail -60 > $R/fused.log; echo "rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/fused.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_q2
for f in $R/*.log; do echo "== $f"; tail -n 12 $f; done
