# run as BUDGET=470 bash
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
# A/B: where each kernel triggers the next one's launch (PDL), 2b, three recipes, batch 1 and 16; late, early, late
for T in late early late2; do
  VLMQ_PDL_TRIGGER=${T%2} timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b_$T --models qwen2-vl-2b --recipes bf16,int4_wo,fp8 \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -5 > $R/speed_$T.log; echo "$T rc ${PIPESTATUS[0]}" >> $R/speed_$T.log
done
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_c5
for T in late early late2; do echo "== $T"; cat $R/speed_$T.log; done
