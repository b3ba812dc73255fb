set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
timeout 400 python3 benchmarks/bench_kernels.py --out $OUT/sweep16 --sweep --jobs 14 --budget-s 270 --presets 2b,7b --rows 16,1 --modes bf16,int4-g128,int8-a16,fp8-a8 --reps 10 > $OUT/sweep16.log 2>&1; echo sweep rc $?
grep -E "best|compiled|stopped" $OUT/sweep16.log
O=benchmarks/results/h200-2026-11-30b
python3 benchmarks/bench_kernels.py --out /tmp/x --write-tiles $O/call1-sweep-soak/sweep/bench_kernels_sweep.json $O/call3-tests-fp8sweep-soak/sweep/bench_kernels_sweep.json benchmarks/results/h200-2026-11-30d/call2-sweep16/sweep/bench_kernels_sweep.json $OUT/sweep16/bench_kernels_sweep.json 2>&1 | tail -1
git diff --stat src/vlmq/engine/kernels/tiles/h200.json 2>/dev/null; python3 -c "import json; [print(t) for t in json.load(open('src/vlmq/engine/kernels/tiles/h200.json'))['dot_m16'] if t.get('swap') or t.get('post')]; print(json.load(open('src/vlmq/engine/kernels/tiles/h200.json'))['dot_m1'])"
cp src/vlmq/engine/kernels/tiles/h200.json $OUT/
timeout 95 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_kernels_gpu.py -k "swapped or decode_linear or fused_layer or split_k" 2>&1 | tail -15 | tee $OUT/tests.log
