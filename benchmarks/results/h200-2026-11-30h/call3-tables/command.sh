set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-555}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: the GPU tests of what changed since call 2 (quotient probe import, every measured prefill tile), then the 7b table
( export CUDA_VISIBLE_DEVICES=0
  timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_kernels_gpu.py -k "quotient or prefill or row_prologue or float_rows" 2>&1 | tail -8 > $R/tests.log; echo "tests rc ${PIPESTATUS[0]}" >> $R/tests.log
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int8_wo,int4_wo,fp8,smoothquant \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -12 > $R/gpu0.log; echo "speed7b rc ${PIPESTATUS[0]}" >> $R/gpu0.log ) &
P0=$!
# GPU 1: the 2b table and the 8k x 16 FP8 KV point
( export CUDA_VISIBLE_DEVICES=1
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int8_wo,int4_wo,fp8,smoothquant \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes bf16,bf16+kv_fp8,bf16+kv_fp8_dyn --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -20 > $R/gpu1.log; echo "speed2b rc ${PIPESTATUS[0]}" >> $R/gpu1.log ) &
P1=$!
wait $P0 $P1
python3 benchmarks/check_bars.py $R/speed2b/results.jsonl $R/speed7b/results.jsonl > $R/bars.md 2>&1
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
cat $R/tests.log $R/gpu1.log $R/gpu0.log; head -3 $R/bars.md
