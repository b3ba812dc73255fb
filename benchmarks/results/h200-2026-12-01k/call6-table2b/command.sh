set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-570}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c6; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r_c6.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c6 2>/dev/null && mv /tmp/r_c6.tgz $OUT/results.tgz; done ) &
COPIER=$!
# the 2b table with the W8A8 prefill tiles (every real-kernel recipe, batch 1 and 16) and the 8k x 16 FP8-KV point
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,smoothquant,fp8,int8_wo,int4_wo,int4_awq \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes bf16,bf16+kv_fp8 --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed.log; echo "speed2b rc ${PIPESTATUS[0]}" >> $R/speed.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c6
cat $R/speed.log; cat $R/speed2b/bars.md 2>/dev/null | head -3
