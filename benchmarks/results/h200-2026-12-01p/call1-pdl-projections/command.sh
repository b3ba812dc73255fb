# run as BUDGET=560 bash
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-575}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c1; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_c1.tgz --exclude='img' -C /tmp r_c1 2>/dev/null && mv /tmp/r_c1.tgz $OUT/results.tgz; done ) &
COPIER=$!
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
# A/B: which kernels of a decoder layer trigger the next one's launch early (PDL), as kernels or GEMVs by projection,
# chosen so that no two consecutive kernels both trigger early (no cascade); 2b, bf16 and int4_wo, batch 1 and 16
for T in late attention qkv+o attention+down; do
  VLMQ_PDL_TRIGGER=${T//+/,} timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b_$T --models qwen2-vl-2b --recipes bf16,int4_wo \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 20 )) 2>&1 | grep -v "$F" | tail -4 > $R/speed_$T.log; echo "$T rc ${PIPESTATUS[0]}" >> $R/speed_$T.log
done
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_c1
for T in late attention qkv+o attention+down; do echo "== $T"; cat $R/speed_$T.log; done
