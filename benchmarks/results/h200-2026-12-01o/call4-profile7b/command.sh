# run as BUDGET=400 bash
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
# where a 7b int4_wo / int8_wo first token and decode step go now (torch.profiler)
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/prof7b --models qwen2-vl-7b --recipes int4_wo,int8_wo \
    --tasks speed-profile --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -5 > $R/prof.log; echo "prof rc ${PIPESTATUS[0]}" >> $R/prof.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_c4
cat $R/prof.log; grep -A 22 "ttft" $R/prof7b/profiles.md | head -60
