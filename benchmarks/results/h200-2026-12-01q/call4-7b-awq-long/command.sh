# run as BUDGET=555 bash
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-555}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_q4; rm -rf $R; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_q4.tgz --exclude='img' -C /tmp r_q4 2>/dev/null && mv /tmp/r_q4.tgz $OUT/results.tgz; done ) &
COPIER=$!
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
# 1. the 7b rows the last session's table missed: int4_awq beside bf16 (the ratios' reference), batch 1 and 16
timeout 300 python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int4_awq \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s 290 2>&1 | grep -v "$F" | tail -12 > $R/speed7b.log; echo "speed7b rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/speed7b.log
# 2. the 2b 8192-token cache x batch 16 point, BF16 vs FP8 KV cache
timeout $(( $(left) - 8 )) python3 -m vlmq run --model qwen2-vl-2b --recipes bf16,bf16+kv_fp8 --tasks speed-long --launcher subprocess \
    --baseline bf16 --quiet --fresh --out $R/long 2>&1 | grep -v "$F" | tail -12 > $R/long.log; echo "long rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/long.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_q4
cat $R/speed7b.log $R/long.log
