# run as BUDGET=330 bash
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-575}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c5; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_c5.tgz --exclude='img' -C /tmp r_c5 2>/dev/null && mv /tmp/r_c5.tgz $OUT/results.tgz; done ) &
COPIER=$!
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
# 1. the one-launch int4 group terms: bit for bit against the eager expression, and every CUTLASS GPU test
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_cutlass_gpu.py 2>&1 | grep -v "^  \|^$" | tail -20 > $R/tests_cutlass.log; echo "rc ${PIPESTATUS[0]}" >> $R/tests_cutlass.log
# 2. the 7b first token, BF16 and the int4 recipes (group terms in one launch)
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int4_wo,int4_awq,int8_wo \
    --batch-sizes 1 --new-tokens 16 --repeats 3 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -10 > $R/speed.log; echo "speed7b rc ${PIPESTATUS[0]}" >> $R/speed.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_c5
tail -n 4 $R/tests_cutlass.log; cat $R/speed.log
