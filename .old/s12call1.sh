set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-580}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c1; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r_c1.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c1 2>/dev/null && mv /tmp/r_c1.tgz $OUT/results.tgz; done ) &
COPIER=$!
# 1. the CUTLASS mixed-input W8A16 GEMM: loads? matches the reference? how fast against dequantize-then-cuBLAS?
timeout 30 python3 -m vlmq.engine.kernels.cutlass_gemm 2>&1 | grep -v "$F" > $R/cutlass.log
if ! grep -q available $R/cutlass.log || grep -q "not built\|Hopper" $R/cutlass.log; then
  echo "--- rebuilding on the device" >> $R/cutlass.log
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/nvidia_cutlass*.whl
  export VLMQ_CUTLASS_LIB=/tmp/libvlmq_mixed_gemm.so
  timeout 240 python3 -m vlmq.engine.kernels.cutlass_gemm --build --out $VLMQ_CUTLASS_LIB 2>&1 | grep -v "$F" >> $R/cutlass.log
  cp $VLMQ_CUTLASS_LIB $R/ 2>/dev/null
fi
timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_cutlass_gpu.py 2>&1 | grep -v "^  \|^$" | tail -30 > $R/tests_cutlass.log
timeout 200 python3 benchmarks/bench_prefill_gemm.py --presets 7b,2b --rows 300 --formats int8 --tiles none --out $R/gemm > $R/gemm.log 2>&1; echo "gemm rc $?" >> $R/gemm.log
# 2. the 7b first token with the CUTLASS prefill (int8_wo) against BF16, same call
timeout $(( $(left) - 200 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int8_wo --batch-sizes 1 --new-tokens 16 --repeats 3 --tasks speed --long-context-recipes '' > $R/speed.log 2>&1; echo "speed rc $?" >> $R/speed.log
# 3. GPU tests the int4 refactor (88bfead) touches, and the toy end to end through the eager engine
timeout 90 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_kernels_gpu.py -k "int4" 2>&1 | grep -v "^  \|^$" | tail -20 > $R/tests_int4.log
timeout $(( $(left) - 15 )) python3 -m vlmq run --model toy --recipes bf16,int4_wo,int4_awq,int8_wo,fp8,smoothquant \
  --tasks shapes-vqa,shapes-pope,shapes-mme --limit 120 --compile false --out $R/e2e_eager --quiet --fresh > $R/e2e.log 2>&1; echo "e2e rc $?" >> $R/e2e.log
[ -f $R/e2e_eager/results.jsonl ] || timeout 12 python3 -m vlmq report $R/e2e_eager 2>&1 | tail -2 >> $R/e2e.log
python3 benchmarks/compare_runs.py benchmarks/results/cpu-toy/results.jsonl $R/e2e_eager/results.jsonl --tol 1 > $R/compare_eager.md 2>&1
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c1
cat $R/cutlass.log; tail -n 8 $R/tests_cutlass.log; grep -v "^7b\|^2b" $R/gemm.log | tail -30; tail -n 12 $R/speed.log; tail -n 3 $R/tests_int4.log; tail -n 3 $R/e2e.log; tail -n 12 $R/compare_eager.md
