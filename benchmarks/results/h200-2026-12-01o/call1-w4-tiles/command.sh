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
python3 -c "from vlmq.engine.kernels import cutlass_gemm as c; print(c.unavailable_reason(), {f: c.tiles(f) for f in c.FORMATS}, [c.tile_shape(t, 'w4a16') for t in range(c.tiles('w4a16'))])" 2>&1 | grep -v "$F" > $R/library.log
# 1. the weight-only prefill GEMMs at 300 rows: dequantize+cuBLAS / CUTLASS tiles (the new int4 ones), winners into the tile table
cp src/vlmq/engine/kernels/tiles/h200.json $R/h200.before.json
timeout 300 python3 benchmarks/bench_prefill_gemm.py --presets 7b,2b --rows 300 --formats int8,int4z --tiles none --out $R/gemm \
   --write-tiles src/vlmq/engine/kernels/tiles/h200.json --tiles-source benchmarks/results/h200-2026-12-01o/call1-w4-tiles/gemm/prefill_gemm.jsonl > $R/gemm.log 2>&1; echo "gemm rc $?" >> $R/gemm.log
cp src/vlmq/engine/kernels/tiles/h200.json $R/h200.after.json
# 2. every CUTLASS GPU test (every int4 tile against the reference, K-128 tiles refused for group 64)
timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_cutlass_gpu.py 2>&1 | grep -v "^  \|^$" | tail -40 > $R/tests_cutlass.log; echo "rc ${PIPESTATUS[0]}" >> $R/tests_cutlass.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_c1
cat $R/library.log; tail -n 12 $R/tests_cutlass.log; grep -v "^\(7b\|2b\) m=" $R/gemm.log | tail -50
