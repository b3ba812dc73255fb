set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-575}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c5; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r_c5.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c5 2>/dev/null && mv /tmp/r_c5.tgz $OUT/results.tgz; done ) &
COPIER=$!
# 1. the W8A8 prefill GEMM tiles at 300 rows (int8 and FP8), written to the tile table where they beat the rest
timeout 200 python3 benchmarks/bench_prefill_gemm.py --presets 7b,2b --rows 300 --formats w8a8,fp8a8 --out $R/gemm \
  --write-tiles src/vlmq/engine/kernels/tiles/h200.json 2>&1 | grep -v "$F" > $R/gemm.log; echo "gemm rc ${PIPESTATUS[0]}" >> $R/gemm.log
cp src/vlmq/engine/kernels/tiles/h200.json $R/h200.json
# 2. the prefill GPU tests (every path, the new GEMM's tiles, every measured tile of the table just written)
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_kernels_gpu.py -k "prefill" 2>&1 | grep -v "^  \|^$" | tail -25 > $R/tests.log; echo "tests rc ${PIPESTATUS[0]}" >> $R/tests.log
# 3. the 7b table with the new tiles: every real-kernel recipe, batch 1 and 16
timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,smoothquant,fp8,int8_wo,int4_wo,int4_awq \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -14 > $R/speed.log; echo "speed7b rc ${PIPESTATUS[0]}" >> $R/speed.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c5
grep "tile table\|rc " $R/gemm.log; sed -n '/| preset | rows | proj/,$p' $R/gemm.log | head -40; cat $R/tests.log; cat $R/speed.log
