set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
( while true; do sleep 10; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# where the float rows' RMSNorm runs at one row: the CUDA-core kernel's prologue vs normalize_rows first
timeout 185 python3 benchmarks/bench_kernels.py --out $R/norm --presets 7b,2b --shapes gate_up,qkv --rows 1 \
  --modes int8-a16,bf16,int4-g128 --jobs 14 --budget-s 150 2>&1 | grep -v "quant_api\|torchvision" | tail -60 > $R/norm.log; echo "bench rc ${PIPESTATUS[0]}" >> $R/norm.log
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
grep "m=1 \|compiled\|cases" $R/norm.log | cut -c1-150
