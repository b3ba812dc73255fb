set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-570}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c3; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r_c3.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c3 2>/dev/null && mv /tmp/r_c3.tgz $OUT/results.tgz; done ) &
COPIER=$!
# 1. every CUTLASS tile against dequantize-then-cuBLAS at 300 rows; the winners into the tile table
timeout 200 python3 benchmarks/bench_prefill_gemm.py --presets 7b,2b --rows 300 --formats int8,int4z --tiles none --out $R/gemm \
  --write-tiles src/vlmq/engine/kernels/tiles/h200.json --tiles-source benchmarks/results/h200-2026-12-01l/call3-cutlass-tiles/gemm/prefill_gemm.jsonl > $R/gemm.log 2>&1; echo "gemm rc $?" >> $R/gemm.log
cp src/vlmq/engine/kernels/tiles/h200.json $R/h200.json
# 2. the GPU tests of the CUTLASS path (kernels, the table's tiles through prefill_linear, the toy end to end)
timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_cutlass_gpu.py 2>&1 | grep -v "^  \|^$" | tail -40 > $R/tests_cutlass.log
# 3. the 7b first token with the table's CUTLASS tiles
timeout $(( $(left) - 5 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int8_wo --batch-sizes 1 --new-tokens 16 --repeats 3 --tasks speed --long-context-recipes '' > $R/speed.log 2>&1; echo "speed rc $?" >> $R/speed.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c3
grep "tile table\|gemm rc" $R/gemm.log; grep "best\|dequant |" $R/gemm/prefill_gemm.md | head -30; tail -n 8 $R/tests_cutlass.log; tail -n 5 $R/speed.log
