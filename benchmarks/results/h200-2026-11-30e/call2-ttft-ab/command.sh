set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
ROOT=$PWD
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
F="quant_api\|Configuration class\|cpp extensions"
SPEED="--models qwen2-vl-7b,qwen2-vl-2b --recipes bf16,fp8,smoothquant,int8_wo,int4_wo --batch-sizes 1 --new-tokens 8 --repeats 3 --tasks speed --long-context-recipes '' --budget-s 380"
# GPU 0: the session's starting code (662cb91): TTFT before; then GPU tests of this code
( export CUDA_VISIBLE_DEVICES=0
  ( cd .old/base && PYTHONPATH=/tmp/site:$PWD/src eval python3 benchmarks/bench_speed.py --out /tmp/base $SPEED 2>&1 | grep -v "$F" | tail -12 > /tmp/base.log )
  PYTHONPATH=/tmp/site:$ROOT/src timeout 140 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_fused_gpu.py tests/recipes/test_gpu_engines.py 2>&1 | tail -6 > /tmp/tests.log ) &
# GPU 1: this code: TTFT after; then attention plans and the 2b bf16 profile
( export CUDA_VISIBLE_DEVICES=1 PYTHONPATH=/tmp/site:$ROOT/src
  eval python3 benchmarks/bench_speed.py --out /tmp/new $SPEED 2>&1 | grep -v "$F" | tail -12 > /tmp/new.log
  timeout 70 python3 benchmarks/bench_attention.py --out /tmp/attn --sections attention --contexts 300 --cache-lengths 372 --batches 1,16 --replays 30 2>&1 | grep -v "$F" | tail -8 > /tmp/attn.log
  python3 benchmarks/bench_speed.py --out /tmp/prof --models qwen2-vl-2b --recipes bf16 --batch-sizes 1,16 --tasks speed-profile --long-context-recipes '' --budget-s 85 2>&1 | grep -v "$F" | tail -4 > /tmp/prof.log ) &
wait
cp /tmp/tests.log /tmp/attn.log $OUT/; cp /tmp/prof/profiles.md $OUT/ 2>/dev/null
cp /tmp/base/results.jsonl $OUT/results_base.jsonl; cp /tmp/new/results.jsonl $OUT/results_new.jsonl
PYTHONPATH=benchmarks python3 -c "
import bench_speed as b, pathlib
base=b.read_records(pathlib.Path('/tmp/base/results.jsonl')); new=b.read_records(pathlib.Path('/tmp/new/results.jsonl'))
print(b.before_after_table(base, new, '662cb91 (GPU 0, same host, same time)')); print(); print(b.summary_table(new))" > $OUT/ab.md 2>&1
cat /tmp/base.log /tmp/new.log /tmp/prof.log > $OUT/logs.txt
cat $OUT/tests.log $OUT/ab.md $OUT/attn.log; grep -B2 -A12 "layers x" $OUT/profiles.md | head -40
