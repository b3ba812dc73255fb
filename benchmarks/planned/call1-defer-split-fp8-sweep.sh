# Planned by the forty-ninth session (BUDGET=520, from a cold start; its own call 2, refused: no machine was lent).
# (1) The deferred RMSNorm where the forty-ninth session's call 1 did not split it: the lm_head's (BF16 on every
# recipe) on top of the measured rule on the 2b (`measured` there: bf16 q/k/v, int8 gate/up, int4 q/k/v + gate/up),
# and the 7b's per projection (call 1, all three together: int4_wo 0.986x, int8_wo 1.007x; the rule defers none there).
# (2) The 2b's FP8 one-row tiles swept again, whole, in the fused form the engine runs (the table's were swept plain
# on 2026-11-30, rows quantized by the caller, before the pipeliner: the engine's q/k/v and o quantize their rows in
# every program, its down_proj with gate/up's row maxima, as the fused sweep now does), stages 3 / 4 among them; a
# table written from every recorded sweep plus this one, and the 2b fp8 decode step on the shipped table against it.
# Adopt: extend gemv.NORM_DEFER_MEASURED where a variant is faster; a faster fp8 table by --write-tiles with the same
# sources (docs/benchmarks.md says how), then call 2 checks the default end to end.
. benchmarks/device_call.sh
RECIPE=bf16,int8_wo,int4_wo decode_ab split_2b qwen2-vl-2b 1 VLMQ_NORM_DEFER \
    'measured;qkv,lm_head;gate_up,lm_head;qkv,gate_up,lm_head' 100
TABLE=src/vlmq/engine/kernels/tiles/h200.json
cp $TABLE $R/tiles_before.json
timeout $(( $(left) - 190 )) python3 benchmarks/bench_kernels.py --out $R/sweep --sweep --fused --rows 1 \
    --modes fp8-a8 --presets 2b --jobs 14 --budget-s 150 2>&1 | grep -v "$F" | grep -v "^  (" | tail -30 > $R/sweep.log
echo "sweep rc ${PIPESTATUS[0]} at $(since) s" >> $R/sweep.log
SOURCES=$(python3 -c "import json; print(' '.join(json.load(open('$TABLE'))['sources']))")
python3 benchmarks/bench_kernels.py --out $R/write --write-tiles $SOURCES $R/sweep/bench_kernels_sweep.json \
    > $R/write.log 2>&1; echo "write rc $? at $(since) s" >> $R/write.log
cp $TABLE $R/tiles_after.json && cp $R/tiles_before.json $TABLE
RECIPE=fp8 decode_ab tiles_2b qwen2-vl-2b 1 VLMQ_TILES "$TABLE;$R/tiles_after.json" 70
RECIPE=int4_wo,int8_wo decode_ab split_7b qwen2-vl-7b 1 VLMQ_NORM_DEFER 'measured;qkv;gate_up;lm_head'
finish_call
cat $R/sweep.log; tail -3 $R/write.log
for f in split_2b tiles_2b split_7b; do cat $R/$f/ab.md 2>/dev/null || cat $R/$f.log; done
