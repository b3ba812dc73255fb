# Planned by the twenty-ninth session (run from a checkout of branch next/w4-mma-xsum, the library built there with
# `python -m vlmq.engine.kernels.cutlass_build --build`): the tensor-core GEMV's post forms with the activation-sum
# correction -- its GPU tests, every configuration against the shipped Triton tiles (bench_w4_mma.py; winners into
# $R/tiles.json), the toy through both engines with every int4 decode GEMV on it, and where the bench wrote a 7b
# w4_mma entry, the 7b int4_wo step A/B'd between the shipped table and that one.
. benchmarks/device_call.sh
w4mma_checks
# only the w4_mma entries decide (the table's Triton entries name 7b shapes too: calls 3 and 5 of 2026-12-02ab ran A/As)
if python3 -c "import json,sys; sys.exit(not any(e['shape'].startswith('7b') for e in json.load(open('$R/tiles.json')).get('w4_mma', [])))"; then
    timeout $(( $(left) - 10 )) python3 benchmarks/bench_decode_ab.py --out $R/ab7b --model qwen2-vl-7b --recipes int4_wo \
        --batch-sizes 1 --env VLMQ_TILES --rounds 3 --variants "src/vlmq/engine/kernels/tiles/h200.json;$R/tiles.json" \
        2>&1 | grep -v "$F" | tail -8 > $R/ab7b.log
    echo "ab7b rc ${PIPESTATUS[0]} at $(since) s" >> $R/ab7b.log
fi
finish_call
cat $R/test.log; tail -19 $R/bench.log; cat $R/engines.log $R/ab7b.log 2>/dev/null
