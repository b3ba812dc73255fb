# Thirty-first session, call 4: call 3's q/k/v-early finding as the exact set to ship (q/k/v GEMVs with int8
# weights on either kernel and with fp8 weights on the tensor cores trigger early, on top of MEASURED_EARLY; call 3's
# 'qkv' also moved the BF16 lm_head), and int4's q/k/v early again (the sixteenth session measured it slower at batch
# 16 on older kernels): the 2b's 8- and 4-bit recipes at batch 16 and 1, the 7b's at batch 1 and its 8-bit ones at
# batch 16 (one process a recipe, 3 interleaved rounds); then eager = compiled on the toy for every real recipe with
# the new set (test_gpu_engines.py whole: batch 1, 4 and 6 reach both GEMV kernels).
. benchmarks/device_call.sh
NEW='measured,qkv:int8,qkv:fp8:dot,qkv:int4'
timeout 160 python3 benchmarks/bench_decode_ab.py --out $R/ab2b --model qwen2-vl-2b \
    --recipes int8_wo,smoothquant,fp8,int4_wo --batch-sizes 16,1 --variants "measured;$NEW" --rounds 3 2>&1 \
    | grep -v "$F" | tail -16 > $R/ab2b.log
echo "ab2b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab2b.log
timeout 200 python3 benchmarks/bench_decode_ab.py --out $R/ab7b1 --model qwen2-vl-7b \
    --recipes int8_wo,smoothquant,fp8,int4_wo --batch-sizes 1 --variants "measured;$NEW" --rounds 3 2>&1 \
    | grep -v "$F" | tail -12 > $R/ab7b1.log
echo "ab7b1 rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b1.log
VLMQ_PDL_TRIGGER=$NEW timeout 210 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short \
    tests/recipes/test_gpu_engines.py 2>&1 | grep -v "$F" | tail -15 > $R/engines.log
echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> $R/engines.log
timeout $(( $(left) - 8 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b16 --model qwen2-vl-7b \
    --recipes int8_wo,fp8 --batch-sizes 16 --variants "measured;$NEW" --rounds 3 2>&1 \
    | grep -v "$F" | tail -8 > $R/ab7b16.log
echo "ab7b16 rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b16.log
finish_call
cat $R/ab2b.log $R/ab7b1.log $R/engines.log $R/ab7b16.log
