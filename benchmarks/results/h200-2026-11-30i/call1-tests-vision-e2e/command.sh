set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-560}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: every GPU test (two processes), then the 2b BF16 first-token profile (kernels; timing shares the host)
( export CUDA_VISIBLE_DEVICES=0
  ( timeout $(( $(left) - 120 )) python3 -m pytest -q -s -m gpu -p no:cacheprovider tests/engine/test_fused_gpu.py tests/recipes/test_gpu_engines.py > $R/testsA.full 2>&1; echo "testsA rc $?" >> $R/testsA.full ) &
  A=$!
  timeout $(( $(left) - 120 )) python3 -m pytest -q -m gpu -p no:cacheprovider tests --ignore=tests/engine/test_fused_gpu.py --ignore=tests/recipes/test_gpu_engines.py 2>&1 | tail -40 > $R/testsB.log; echo "testsB rc ${PIPESTATUS[0]}" >> $R/testsB.log
  wait $A
  grep -v "^  \|^$" $R/testsA.full | tail -40 > $R/testsA.log; grep -A12 "prefill layer kernels" $R/testsA.full > $R/prefill_kernels.log
  timeout $(( $(left) - 5 )) python3 benchmarks/bench_speed.py --out $R/profile2b --models qwen2-vl-2b --recipes bf16 \
    --batch-sizes 1 --repeats 1 --tasks speed-profile --long-context-recipes '' --budget-s $(( $(left) - 25 )) 2>&1 | grep -v "$F" | tail -12 > $R/gpu0.log; echo "profile2b rc ${PIPESTATUS[0]}" >> $R/gpu0.log ) &
P0=$!
# GPU 1: the vision tower under Inductor option sets, then the toy end to end (compiled) against the CPU run
( export CUDA_VISIBLE_DEVICES=1
  timeout 230 python3 benchmarks/bench_attention.py --out $R/vision --sections vision_options --image-sizes 448 2>&1 | grep -v "$F" | tail -20 > $R/vision.log; echo "vision rc ${PIPESTATUS[0]}" >> $R/vision.log
  timeout $(( $(left) - 45 )) python3 -m vlmq run --model toy --recipes bf16,int8_wo,int4_wo,smoothquant,fp8,int4_awq,fp8+kv_fp8_text,nvfp4,fp8+kv_fp8_vis \
    --tasks shapes-vqa,shapes-pope,shapes-mme --limit 120 --compile true --out $R/e2e --quiet --fresh > $R/e2e.log 2>&1; echo "e2e rc $?" >> $R/e2e.log
  [ -f $R/e2e/results.jsonl ] || timeout 30 python3 -m vlmq report $R/e2e 2>&1 | tail -2 >> $R/e2e.log
  python3 benchmarks/compare_runs.py benchmarks/results/cpu-toy/results.jsonl $R/e2e/results.jsonl --tol 1 > $R/compare_compiled.md 2>&1; echo "compare rc $?" >> $R/e2e.log ) &
P1=$!
wait $P0 $P1
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r
tail -n 4 $R/testsA.log $R/testsB.log; cat $R/prefill_kernels.log | head -14; cat $R/vision.log | grep "options\|rc"; cat $R/gpu0.log | tail -4; tail -n 3 $R/e2e.log; tail -n 15 $R/compare_compiled.md
