set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
B="--presets 2b,7b --rows 1 --modes int8-a8,fp8-a8 --reps 20"
PYTHONPATH=/tmp/site:$PWD/.old/src timeout 170 python3 .old/benchmarks/bench_kernels.py --out $OUT/kern-old $B > $OUT/kern-old.log 2>&1; echo old rc $?
PYTHONPATH=/tmp/site:$PWD/src timeout 170 python3 benchmarks/bench_kernels.py --out $OUT/kern-new $B > $OUT/kern-new.log 2>&1; echo new rc $?
tail -40 $OUT/kern-new.log
PYTHONPATH=/tmp/site:$PWD/src timeout 200 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_kernels_gpu.py tests/engine/test_fused_gpu.py -k "not test_fused_decode_logits_match_eager or smoothquant or fp8" -x 2>&1 | tail -25 | tee $OUT/tests.log
