# (Run from benchmarks/planned/ as BUDGET=165 CALL=al6: the fortieth session's call 6, 49 s from a cold start, at the commit after 01f3b34 (--variants taking vlmq-xfrag). Its bench ended in UnboundLocalError after the last case, fixed since: the records were written first, bench_kernels.json.)
# Planned by the fortieth session (BUDGET=185, from a cold start, carrying .whl and build/packed): what the 16-row int4
# tile's activation permute through shared memory costs (sm_90 SASS, thirty-ninth session: LDS -> 8 STS -> BAR before
# the wgmma, every K tile; Nsight, this session's call 3: the 7b down waits on its instruction chain, barriers first):
# bench_kernels.py's new vlmq-xfrag variant -- the table's tile reading rows stored in its K order already
# (gemv x_frag, frag_activations), the permute skipped -- against vlmq (the same tile; the 2b o_proj's table entry is
# the CUDA w4_mma kernel instead), every 16-row int4 shape of both presets, weights from HBM, each checked first.
. benchmarks/device_call.sh
timeout $(( $(left) - 8 )) python3 benchmarks/bench_kernels.py --out $R/xfrag --presets 7b,2b --rows 16 \
    --modes int4-g128 --variants vlmq,vlmq-xfrag --reps 20 --jobs 15 --budget-s $(( $(left) - 60 )) 2>&1 \
    | grep -v "$F" | tail -30 > $R/xfrag.log
echo "xfrag rc ${PIPESTATUS[0]} at $(since) s" >> $R/xfrag.log
finish_call
cat $R/xfrag.log
