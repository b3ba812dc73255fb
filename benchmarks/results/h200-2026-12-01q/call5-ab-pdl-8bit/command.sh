# run as BUDGET=300 bash
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-300}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_q5; rm -rf $R; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_q5.tgz --exclude='img' -C /tmp r_q5 2>/dev/null && mv /tmp/r_q5.tgz $OUT/results.tgz; done ) &
COPIER=$!
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
# A/B of the PDL trigger on the 8-bit recipes (the measured default vs every GEMV early vs every GEMV late), 2b batch 1 and 16
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab_pdl --model qwen2-vl-2b --recipes smoothquant,int8_wo,fp8 \
    --batch-sizes 1,16 --variants 'measured;early;late' --rounds 3 2>&1 | grep -v "$F" | tail -30 > $R/ab.log; echo "ab rc ${PIPESTATUS[0]} at $(( $(date +%s) - T0 )) s" >> $R/ab.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_q5
cat $R/ab.log; cat $R/ab_pdl/ab.md 2>/dev/null
