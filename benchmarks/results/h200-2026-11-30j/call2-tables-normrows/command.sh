set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-575}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c2; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r_c2.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c2 2>/dev/null && mv /tmp/r_c2.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: normalize_rows at one row (warps, block), then the 2b table (every real-kernel recipe, batch 1 and 16)
( export CUDA_VISIBLE_DEVICES=0
  timeout 80 python3 .old/nr_bench.py 2>&1 | grep -v "$F" > $R/nr.log; echo "nr rc ${PIPESTATUS[0]}" >> $R/nr.log
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int8_wo,int4_wo,fp8,smoothquant,int4_awq \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -12 > $R/gpu0.log; echo "speed2b rc ${PIPESTATUS[0]}" >> $R/gpu0.log ) &
P0=$!
# GPU 1: the 7b table, batch 1 and 16
( export CUDA_VISIBLE_DEVICES=1
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int8_wo,int4_wo,int4_awq,fp8,smoothquant \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -12 > $R/gpu1.log; echo "speed7b rc ${PIPESTATUS[0]}" >> $R/gpu1.log ) &
P1=$!
wait $P0 $P1
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c2
cat $R/nr.log; cat $R/gpu0.log; cat $R/gpu1.log
