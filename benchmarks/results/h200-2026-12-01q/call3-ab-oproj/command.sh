# run as BUDGET=560 bash
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-560}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_q3; rm -rf $R; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_q3.tgz --exclude='img' -C /tmp r_q3 2>/dev/null && mv /tmp/r_q3.tgz $OUT/results.tgz; done ) &
COPIER=$!
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
D=benchmarks/results/h200-2026-12-01q/call3-ab-oproj
# 1. the prefill paths of each scheme (FP8 weights with bf16 rows now list no CUTLASS path), and call 1's one-off failure 40 times over
timeout 60 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short -k "prefill_paths" tests/engine/test_kernels_gpu.py 2>&1 | grep -v "^$" | tail -8 > $R/kernels.log; echo "rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/kernels.log
timeout 90 python3 $D/stress_fused.py 2>&1 | grep -v "$F" | tail -30 > $R/stress.log; echo "rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/stress.log
# 2. A/B: the decode attention's splits combined in its own kernel vs in o_proj's GEMV, 2b batch 1
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab_oproj --model qwen2-vl-2b --recipes bf16,int4_wo,int8_wo \
    --batch-sizes 1 --env VLMQ_ATTENTION_COMBINE --variants 'attention;o_proj' --rebuild --rounds 3 2>&1 | grep -v "$F" | tail -20 > $R/ab.log; echo "ab rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/ab.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_q3
for f in $R/*.log; do echo "== $f"; tail -n 14 $f; done; cat $R/ab_oproj/ab.md 2>/dev/null
