set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-570}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
R=/tmp/r_c1; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r_c1.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c1 2>/dev/null && mv /tmp/r_c1.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: int4 nibble pairs + norm-first A/B (old = 76c3181's src), then the int4 one-row tile sweep on the new kernel
( export CUDA_VISIBLE_DEVICES=0
  for side in old new; do
    if [ $side = old ]; then SRC=$PWD/.old/base_76c/src; else SRC=$PWD/src; fi
    PYTHONPATH=/tmp/site:$SRC timeout 150 python3 benchmarks/bench_kernels.py --out $R/ab_$side --presets 7b,2b --rows 1 \
      --modes int4-g128,int8-a16 --jobs 14 --budget-s 110 2>&1 | grep -v "$F" | tail -80 > $R/ab_$side.log; echo "ab $side rc ${PIPESTATUS[0]}" >> $R/ab_$side.log
  done
  PYTHONPATH=/tmp/site:$PWD/src timeout $(( $(left) - 10 )) python3 benchmarks/bench_kernels.py --out $R/sweep4 --sweep --presets 7b,2b --rows 1 \
      --modes int4-g128 --jobs 14 --budget-s $(( $(left) - 40 )) 2>&1 | grep -v "$F" | tail -40 > $R/sweep4.log; echo "sweep rc ${PIPESTATUS[0]}" >> $R/sweep4.log ) &
P0=$!
# GPU 1: the 7b table (norm first for 8-/4-bit weights, int4 nibble pairs), then the 2b's weight-only rows
( export CUDA_VISIBLE_DEVICES=1 PYTHONPATH=/tmp/site:$PWD/src
  timeout 330 python3 benchmarks/bench_speed.py --out $R/speed7b --models qwen2-vl-7b --recipes bf16,int8_wo,int4_wo,int4_awq,fp8,smoothquant \
    --batch-sizes 1 --repeats 2 --tasks speed --long-context-recipes '' --budget-s 300 2>&1 | grep -v "$F" | tail -12 > $R/gpu1.log; echo "speed7b rc ${PIPESTATUS[0]}" >> $R/gpu1.log
  timeout $(( $(left) - 8 )) python3 benchmarks/bench_speed.py --out $R/speed2b --models qwen2-vl-2b --recipes bf16,int4_wo,int8_wo \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $(left) - 30 )) 2>&1 | grep -v "$F" | tail -10 >> $R/gpu1.log; echo "speed2b rc ${PIPESTATUS[0]}" >> $R/gpu1.log ) &
P1=$!
wait $P0 $P1
kill $COPIER; tar -czf $OUT/results.tgz --exclude='*.sqlite*' --exclude='img' -C /tmp r_c1
grep "m=1 \|cases\|rc " $R/ab_old.log | grep "int4\|cases\|rc" | cut -c1-110
grep "m=1 \|cases\|rc " $R/ab_new.log | grep "int4\|cases\|rc" | cut -c1-110
tail -n 12 $R/sweep4.log | cut -c1-200; cat $R/gpu1.log
