# run as BUDGET=575 bash
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-575}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c4; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_c4.tgz --exclude='img' -C /tmp r_c4 2>/dev/null && mv /tmp/r_c4.tgz $OUT/results.tgz; done ) &
COPIER=$!
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
# the 7b table, every real-kernel recipe, batch 1 and 16, with the measured PDL triggers (pdl.MEASURED_EARLY)
timeout $(( $(left) - 10 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,smoothquant,fp8,int8_wo,int4_wo,int4_awq \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -16 > $R/speed.log; echo "speed7b rc ${PIPESTATUS[0]}" >> $R/speed.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_c4
cat $R/speed.log
