set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-330}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c7; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r_c7.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c7 2>/dev/null && mv /tmp/r_c7.tgz $OUT/results.tgz; done ) &
COPIER=$!
# 1. GPU tests of the folded SiLU·mul rows, the row prologue, every prefill path and the W8A8 fused layer
timeout 70 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_kernels_gpu.py -k "silu_mul_rows or prologue or smoothquant or prefill" 2>&1 | grep -v "^  \|^$" | tail -20 > $R/tests.log; echo "tests rc ${PIPESTATUS[0]}" >> $R/tests.log
# 2. first token of both presets, W8A8 recipes and BF16, batch 1
timeout $(( $(left) - 100 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,fp8,smoothquant \
    --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 120 )) 2>&1 | grep -v "$F" | tail -8 > $R/speed7b.log; echo "speed7b rc ${PIPESTATUS[0]}" >> $R/speed7b.log
timeout $(( $(left) - 5 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,fp8,smoothquant \
    --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -8 > $R/speed2b.log; echo "speed2b rc ${PIPESTATUS[0]}" >> $R/speed2b.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c7
cat $R/tests.log $R/speed7b.log $R/speed2b.log
