# run as BUDGET=575 bash
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-575}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c3; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_c3.tgz --exclude='img' -C /tmp r_c3 2>/dev/null && mv /tmp/r_c3.tgz $OUT/results.tgz; done ) &
COPIER=$!
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
# 1. eager = compiled greedy answers of every real recipe on the toy, batch 1, 4 and 6 (the default PDL triggers)
timeout $(( $(left) - 8 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/recipes/test_gpu_engines.py 2>&1 | grep -v "^  \|^$" | tail -20 > $R/tests_engines.log; echo "rc ${PIPESTATUS[0]}" >> $R/tests_engines.log
# 2. the 2b table, every real-kernel recipe, batch 1 and 16, and the 8k x 16 FP8-KV point
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,smoothquant,fp8,int8_wo,int4_wo,int4_awq \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes bf16,bf16+kv_fp8 --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -18 > $R/speed.log; echo "speed2b rc ${PIPESTATUS[0]}" >> $R/speed.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_c3
tail -n 4 $R/tests_engines.log; cat $R/speed.log
