set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
timeout 50 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_kernels_gpu.py -k "swapped" 2>&1 | tail -4 | tee $OUT/tests.log
python3 benchmarks/bench_speed.py --out /tmp/s --models qwen2-vl-2b,qwen2-vl-7b --recipes bf16,int8_wo,fp8,smoothquant,int4_wo --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s 430 > $OUT/speed.log 2>&1; echo speed rc $?
cp /tmp/s/table.md /tmp/s/results.jsonl $OUT/ 2>/dev/null
cat $OUT/table.md 2>/dev/null | head -20; tail -3 $OUT/speed.log
