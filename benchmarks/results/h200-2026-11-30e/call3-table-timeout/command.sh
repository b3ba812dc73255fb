set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
F="quant_api\|Configuration class\|cpp extensions"
# issue 16's whole table in one call: the 2b (and the 8k x 16 long-context point) on GPU 0, the 7b on GPU 1
python3 benchmarks/bench_speed.py --out /tmp/s --gpus 0,1 --models qwen2-vl-2b,qwen2-vl-7b --recipes bf16,int8_wo,fp8,smoothquant,int4_wo --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes bf16,bf16+kv_fp8 --budget-s 470 2>&1 | grep -v "$F" > /tmp/speed.log &
# GPU 0 once its runs are done: the W8A8 prefill quantization A/B, then eager = compiled greedy answers per recipe
( for i in $(seq 1 86); do [ -f /tmp/s/run_qwen2-vl-2b_long/results.jsonl ] && break; sleep 5; done
  export CUDA_VISIBLE_DEVICES=0
  timeout 60 python3 benchmarks/bench_act_quant.py --out /tmp/aq 2>&1 | grep -v "$F" | tail -6 > /tmp/aq.log
  timeout 120 python3 -m pytest -q -m gpu -p no:cacheprovider tests/recipes/test_gpu_engines.py tests/engine/test_gpu.py 2>&1 | tail -5 > /tmp/tests.log ) &
wait
cp /tmp/s/table.md /tmp/s/results.jsonl /tmp/speed.log /tmp/aq.log /tmp/tests.log $OUT/ 2>/dev/null
cat $OUT/tests.log $OUT/aq.log $OUT/table.md; tail -4 $OUT/speed.log
