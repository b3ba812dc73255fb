set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
A="--sections attention --contexts 300 --cache-lengths 372,2048 --batches 1,16 --replays 30"
PYTHONPATH=/tmp/site:$PWD/src timeout 100 python3 benchmarks/bench_attention.py --out $OUT/attn-new $A > $OUT/attn-new.log 2>&1; echo new rc $?
PYTHONPATH=/tmp/site:$PWD/.old/src timeout 100 python3 benchmarks/bench_attention.py --out $OUT/attn-old $A > $OUT/attn-old.log 2>&1; echo old rc $?
tail -12 $OUT/attn-old.log; tail -14 $OUT/attn-new.log
export PYTHONPATH=/tmp/site:$PWD/src
timeout 110 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_attention_gpu.py -x 2>&1 | tail -4 | tee $OUT/tests-attn.log
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider tests/recipes/test_gpu_engines.py -k "smoothquant or fp8 or bf16 or (int4_wo and not keep8)" 2>&1 | tail -6 | tee $OUT/tests-engines.log
