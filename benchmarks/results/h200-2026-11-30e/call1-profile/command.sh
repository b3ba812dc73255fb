set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
# GPU 0: per-kernel profiles (decode bs1 / bs16 folded per layer, first token by kernel)
( CUDA_VISIBLE_DEVICES=0 python3 benchmarks/bench_speed.py --out /tmp/p --models qwen2-vl-2b,qwen2-vl-7b --recipes bf16,int8_wo,fp8,smoothquant,int4_wo --batch-sizes 1,16 --tasks speed-profile --long-context-recipes '' --budget-s 500 > /tmp/prof.log 2>&1; echo prof rc $? >> /tmp/prof.log ) &
# GPU 1: eager = compiled greedy answers per recipe, then the 2b table
( export CUDA_VISIBLE_DEVICES=1; timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider tests/recipes/test_gpu_engines.py tests/engine/test_gpu.py > /tmp/tests.log 2>&1; echo tests rc $? >> /tmp/tests.log
  python3 benchmarks/bench_speed.py --out /tmp/s --models qwen2-vl-2b --recipes bf16,int8_wo,fp8,smoothquant,int4_wo --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s 330 > /tmp/speed.log 2>&1; echo speed rc $? >> /tmp/speed.log ) &
wait
tail -4 /tmp/tests.log > $OUT/tests.log; grep -v "quant_api\|Configuration class\|cpp extensions" /tmp/speed.log | tail -30 > $OUT/speed.log
grep -v "quant_api\|Configuration class\|cpp extensions" /tmp/prof.log | tail -30 > $OUT/prof.log
cp /tmp/s/table.md $OUT/table.md; cp /tmp/s/results.jsonl $OUT/results.jsonl; cp /tmp/p/profiles.md $OUT/profiles.md; cp /tmp/p/results.jsonl $OUT/prof_results.jsonl
cat $OUT/tests.log $OUT/table.md; tail -5 $OUT/prof.log; head -60 $OUT/profiles.md
