set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider tests/recipes/test_gpu_engines.py tests/engine/test_gpu.py 2>&1 | tail -25 | tee $OUT/tests.log
python3 benchmarks/bench_speed.py --out /tmp/s7 --models qwen2-vl-7b --recipes bf16,int8_wo,fp8,smoothquant,int4_wo --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s 300 > $OUT/speed7b.log 2>&1; echo speed rc $?
cp /tmp/s7/table.md /tmp/s7/results.jsonl $OUT/ 2>/dev/null
cat $OUT/table.md 2>/dev/null; tail -5 $OUT/speed7b.log
