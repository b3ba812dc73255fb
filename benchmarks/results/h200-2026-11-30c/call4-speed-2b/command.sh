set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
timeout 315 python3 benchmarks/bench_speed.py --out /tmp/s --models qwen2-vl-2b --recipes bf16,smoothquant,fp8,int8_wo,int4_wo --batch-sizes 1,16 --repeats 3 --tasks speed --long-context-recipes '' > $OUT/speed2b.log 2>&1; echo speed rc $?
cp /tmp/s/table.md /tmp/s/results.jsonl $OUT/ 2>/dev/null || cp /tmp/s/run_qwen2-vl-2b/vlmq.sqlite* $OUT/
cat $OUT/table.md 2>/dev/null
