set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-575}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c3; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r_c3.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c3 2>/dev/null && mv /tmp/r_c3.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: the GPU tests: the kernel tests, then fused / engines
( export CUDA_VISIBLE_DEVICES=0
  timeout 60 python3 .old/nr_bench2.py 2>&1 | grep -v "$F" > $R/nr2.log; echo "nr2 rc ${PIPESTATUS[0]}" >> $R/nr2.log
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_kernels_gpu.py tests/engine/test_fused_gpu.py tests/recipes/test_gpu_engines.py 2>&1 | grep -v "^  \|^$" | tail -40 > $R/testsA.log; echo "testsA rc ${PIPESTATUS[0]}" >> $R/testsA.log ) &
P0=$!
# GPU 1: the rest of the GPU tests, the argmax micro-bench, then the toy end to end (compiled) against the CPU run
( export CUDA_VISIBLE_DEVICES=1
  timeout 300 python3 -m vlmq run --model toy --recipes bf16,int8_wo,int4_wo,smoothquant,fp8,int4_awq,fp8+kv_fp8_text,nvfp4,fp8+kv_fp8_vis \
    --tasks shapes-vqa,shapes-pope,shapes-mme --limit 120 --compile true --out $R/e2e --quiet --fresh > $R/e2e.log 2>&1; echo "e2e rc $?" >> $R/e2e.log
  [ -f $R/e2e/results.jsonl ] || timeout 25 python3 -m vlmq report $R/e2e 2>&1 | tail -2 >> $R/e2e.log
  python3 benchmarks/compare_runs.py benchmarks/results/cpu-toy/results.jsonl $R/e2e/results.jsonl --tol 1 > $R/compare_compiled.md 2>&1; echo "compare rc $?" >> $R/e2e.log
  timeout 70 python3 .old/argmax_bench.py 2>&1 | grep -v "$F" > $R/argmax.log; echo "argmax rc ${PIPESTATUS[0]}" >> $R/argmax.log
  timeout $(( $(left) - 10 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_attention_gpu.py tests/engine/test_gpu.py tests/engine/test_teacher_forcing.py tests/models/test_presets.py tests/recipes/test_apply.py 2>&1 | grep -v "^  \|^$" | tail -30 > $R/testsB.log; echo "testsB rc ${PIPESTATUS[0]}" >> $R/testsB.log ) &
P1=$!
wait $P0 $P1
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c3
tail -n 5 $R/testsA.log $R/testsB.log; cat $R/nr2.log; cat $R/argmax.log; tail -n 4 $R/e2e.log; tail -n 15 $R/compare_compiled.md
