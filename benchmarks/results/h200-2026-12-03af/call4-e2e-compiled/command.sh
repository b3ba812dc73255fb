# Thirty-third session, call 4 (the session's last ~230 s of device time): `vlmq run` on the toy through the compiled
# GPU engine, every recipe of gpu_check.sh's e2e stage, against the committed CPU run (compare_runs.py, headline within
# 1 point) -- the user's main command on a GPU, last run whole in the sixteenth session (h200-2026-12-01m call 1);
# test_gpu_engines.py (eager = compiled greedy answers, calls 2-3) checks the engines, this the pipeline around them.
# A run its timeout cuts keeps its samples in the store; `vlmq report` exports what finished.
. benchmarks/device_call.sh
timeout $(( $(left) - 25 )) python3 -m vlmq run --model toy \
    --recipes bf16,int8_wo,int4_wo,smoothquant,fp8,int4_awq,nvfp4,fp8+kv_fp8_text,fp8+kv_fp8_vis \
    --tasks shapes-vqa,shapes-pope,shapes-mme --limit 120 --compile true --out $R/e2e --quiet --fresh 2>&1 \
    | grep -v "$F" > $R/e2e.log
echo "e2e rc ${PIPESTATUS[0]} at $(since) s" >> $R/e2e.log
[ -f $R/e2e/results.jsonl ] || timeout 15 python3 -m vlmq report $R/e2e 2>&1 | tail -2 >> $R/e2e.log
timeout 8 python3 benchmarks/compare_runs.py benchmarks/results/cpu-toy/results.jsonl $R/e2e/results.jsonl --tol 1 \
    > $R/compare_compiled.md 2>&1
echo "compare rc $? at $(since) s" >> $R/e2e.log
finish_call
tail -n 14 $R/e2e.log; tail -n 32 $R/compare_compiled.md
