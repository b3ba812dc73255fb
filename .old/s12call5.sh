set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
export VLMQ_CUTLASS_LIB=$PWD/build/cutlass/libvlmq_mixed_gemm.so
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c5; mkdir -p $R
( while true; do sleep 15; tar -czf /tmp/r_c5.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c5 2>/dev/null && mv /tmp/r_c5.tgz $OUT/results.tgz; done ) &
COPIER=$!
# the 7b table, every real-kernel recipe, with the CUTLASS tiles of call 4's table (committed with this command)
timeout 345 python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int8_wo,int4_wo,int4_awq,smoothquant,fp8 \
  --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s 330 > $R/speed.log 2>&1; echo "speed7b rc $?" >> $R/speed.log
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c5
grep "qwen2-vl\|rc\|not finish" $R/speed.log | tail -12
