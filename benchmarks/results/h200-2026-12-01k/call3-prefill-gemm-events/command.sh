set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-570}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c3; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r_c3.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c3 2>/dev/null && mv /tmp/r_c3.tgz $OUT/results.tgz; done ) &
COPIER=$!
# the weight-only prefill GEMMs at 300 rows: cuBLAS bf16, dequantize + cuBLAS, the generic Triton tile, mixed tiles
timeout $(( $(left) - 10 )) python3 benchmarks/bench_prefill_gemm.py --presets 7b,2b --rows 300 --formats w8a8,bf16k,int8 --out $R/gemm 2>&1 | grep -v "$F" > $R/gemm.log; echo "gemm rc ${PIPESTATUS[0]}" >> $R/gemm.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c3
grep -v " m=300 " $R/gemm.log | tail -75; cat $R/speed.log

