set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
timeout 330 python3 benchmarks/bench_speed.py --out $OUT/speed2b --models qwen2-vl-2b --recipes bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq --batch-sizes 1,16 --repeats 3 --tasks speed --long-context-recipes '' > $OUT/speed2b.log 2>&1; echo speed rc $?
tail -20 $OUT/speed2b/table.md
timeout 75 python3 benchmarks/bench_speed.py --out $OUT/prof2b --models qwen2-vl-2b --recipes bf16 --batch-sizes 1 --repeats 1 --tasks speed-profile --long-context-recipes '' > $OUT/prof2b.log 2>&1; echo prof rc $?
timeout 100 python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine/test_attention_gpu.py 2>&1 | tail -4 | tee $OUT/tests-attn.log
