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
# 1. the CUTLASS GEMMs of the one-template refactor (2bab5ef), library rebuilt from HEAD's mixed_gemm.cu
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_cutlass_gpu.py 2>&1 | grep -v "^  \|^$" | tail -30 > $R/tests_cutlass.log; echo "rc ${PIPESTATUS[0]}" >> $R/tests_cutlass.log
# 2. eager = compiled greedy answers of every real recipe on the toy
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider tests/recipes/test_gpu_engines.py 2>&1 | grep -v "^  \|^$" | tail -30 > $R/tests_engines.log; echo "rc ${PIPESTATUS[0]}" >> $R/tests_engines.log
# 3. the toy end to end through the compiled GPU engine, against the committed CPU run
timeout $(( $(left) - 25 )) python3 -m vlmq run --model toy --recipes bf16,int8_wo,int4_wo,smoothquant,fp8,int4_awq,fp8+kv_fp8_text,nvfp4,fp8+kv_fp8_vis \
  --tasks shapes-vqa,shapes-pope,shapes-mme --limit 120 --compile true --out $R/e2e --quiet --fresh > $R/e2e.log 2>&1; echo "e2e rc $?" >> $R/e2e.log
[ -f $R/e2e/results.jsonl ] || timeout 15 python3 -m vlmq report $R/e2e 2>&1 | tail -2 >> $R/e2e.log
python3 benchmarks/compare_runs.py benchmarks/results/cpu-toy/results.jsonl $R/e2e/results.jsonl --tol 1 > $R/compare_compiled.md 2>&1; echo "compare rc $?" >> $R/e2e.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='img' -C /tmp r_c1
tail -n 4 $R/tests_cutlass.log $R/tests_engines.log; tail -n 4 $R/e2e.log; tail -n 20 $R/compare_compiled.md
