set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-530}))
left() { echo $(( DEADLINE - $(date +%s) )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
python3 -c "import torch, transformers, triton; print('torch', torch.__version__, 'transformers', transformers.__version__, 'triton', triton.__version__)" >> $OUT/device.txt
R=/tmp/r; mkdir -p $R
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
( while true; do sleep 15; tar -czf /tmp/r.tgz -C /tmp r 2>/dev/null && mv /tmp/r.tgz $OUT/results.tgz; done ) &
COPIER=$!
# GPU 0: prefill sweep at 300 rows (weight-only int8/int4 and W8A8 int8 tiles against the library path)
( export CUDA_VISIBLE_DEVICES=0
  timeout $(( $(left) - 15 )) python3 benchmarks/bench_kernels.py --out $R/sweep300 --sweep --jobs 14 --budget-s 300 \
    --presets 7b,2b --rows 300 --modes int8-a16,int4-g128,int8-a8 --reps 10 2>&1 | grep -v "$F" > $OUT/gpu0.log; echo "sweep300 rc $?" >> $OUT/gpu0.log ) &
P0=$!
# GPU 1: attention candidate plans, W8A8 activation quantization, then fragment-order int4 tiles at 16 rows
( export CUDA_VISIBLE_DEVICES=1
  timeout 90 python3 benchmarks/bench_attention.py --out $R/attention --sections attention --contexts 300 --cache-lengths 372 --batches 1,16 --replays 30 2>&1 | grep -v "$F" > $OUT/gpu1.log
  echo "attention rc $?" >> $OUT/gpu1.log
  timeout 80 python3 benchmarks/bench_act_quant.py --out $R/actquant 2>&1 | grep -v "$F" >> $OUT/gpu1.log; echo "actquant rc $?" >> $OUT/gpu1.log
  timeout $(( $(left) - 15 )) python3 benchmarks/bench_kernels.py --out $R/sweepfrag --sweep --frag-only --jobs 14 --budget-s $(( $(left) - 120 )) \
    --presets 2b,7b --rows 16 --modes int4-g128 --reps 10 2>&1 | grep -v "$F" >> $OUT/gpu1.log; echo "frag rc $?" >> $OUT/gpu1.log ) &
P1=$!
wait $P0 $P1
kill $COPIER; tar -czf $OUT/results.tgz -C /tmp r
tail -5 $OUT/gpu0.log; tail -40 $OUT/gpu1.log
