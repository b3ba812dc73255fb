set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-575}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c4; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_c4.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c4 2>/dev/null && mv /tmp/r_c4.tgz $OUT/results.tgz; done ) &
COPIER=$!
# 1. the stream-K and K-128 tiles (10-12) with the rest, 7b int8 at 300 rows; winners into the tile table
timeout 120 python3 benchmarks/bench_prefill_gemm.py --presets 7b --rows 300 --formats int8 --tiles none --out $R/gemm \
  --write-tiles src/vlmq/engine/kernels/tiles/h200.json --tiles-source benchmarks/results/h200-2026-12-01l/call4-streamk/gemm/prefill_gemm.jsonl > $R/gemm.log 2>&1; echo "gemm rc $?" >> $R/gemm.log
cp src/vlmq/engine/kernels/tiles/h200.json $R/h200.json
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_cutlass_gpu.py 2>&1 | grep -v "^  \|^$" | tail -30 > $R/tests_cutlass.log
# 2. first tokens with the table's tiles: 7b and 2b, BF16 and the weight-only recipes
timeout 170 python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int8_wo,int4_wo --batch-sizes 1 --new-tokens 16 --repeats 3 --tasks speed --long-context-recipes '' > $R/speed.log 2>&1; echo "speed7b rc $?" >> $R/speed.log
# 3. eager = compiled greedy answers of the int4 recipes on the toy (the int4 refactor 88bfead)
timeout $(( $(left) - 110 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/recipes/test_gpu_engines.py -k "int4" 2>&1 | grep -v "^  \|^$" | tail -15 > $R/tests_engines.log
timeout $(( $(left) - 5 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int8_wo,int4_wo --batch-sizes 1 --new-tokens 16 --repeats 3 --tasks speed --long-context-recipes '' >> $R/speed.log 2>&1; echo "speed2b rc $?" >> $R/speed.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c4
grep "tile table\|gemm rc" $R/gemm.log; grep "7b | 300 | int8 | \(best\|dequant\)" $R/gemm/prefill_gemm.md; grep "7b | 300 | \(down\|o\|qkv\|gate_up\) | .* | int8" $R/gemm/prefill_gemm.md | cut -c1-400; tail -n 3 $R/tests_cutlass.log; tail -n 3 $R/tests_engines.log; grep "qwen2-vl\|rc" $R/speed.log
