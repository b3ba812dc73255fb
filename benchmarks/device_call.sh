# The preamble of a one-off device call, sourced by the call's command.sh (kept under benchmarks/results/<run>/callN-*/
# as the record of what ran), so the calls share one copy of it:
#   . benchmarks/device_call.sh        # then: timeout $(( $(left) - 8 )) python3 ... > $R/x.log; ...; finish_call
# run from the repository root as `BUDGET=575 CALL=q1 bash .../command.sh` (BUDGET: seconds the call may take, kept
# under the device tool's limit; CALL names the results folder /tmp/r_$CALL). It installs the wheels of .whl/ (the
# lent image lacks torchao, datasets, ...: gpu_check.sh says how to fetch them) into /tmp/site, points PYTHONPATH at
# them and src/, exports VLMQ_CUTLASS_LIB where build/cutlass holds the library, writes $OUT/device.txt, and copies $R
# to $OUT/results.tgz every 15 s (what a call cut by its limit had written still comes back) and at finish_call.
# Gives: left (seconds to the budget), since (seconds since the start), $R, $F (a grep -v pattern of the image's
# import noise), bf16_ab / decode_ab (a decode-step A/B of bench_decode_ab.py), long_point, speed_table, gpu_tests, phase_boundary, w4_tiles and w4mma_checks (below).
set -u
T0=$(date +%s)
DEADLINE=$((T0 + ${BUDGET:-575}))
left() { echo $((DEADLINE - $(date +%s))); }
since() { echo $(($(date +%s) - T0)); }
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONPATH=/tmp/site:$PWD/src
. "$(dirname "${BASH_SOURCE[0]}")/carried_libs.sh"  # build/packed unpacked, VLMQ_CUTLASS_LIB exported
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/device.txt" 2>&1 || echo "no nvidia-smi" > "$OUT/device.txt"
R=/tmp/r_${CALL:-call}
rm -rf "$R" && mkdir -p "$R"
copy_results() { tar -czf "$R.tgz" --exclude='img' -C /tmp "$(basename "$R")" 2>/dev/null && mv "$R.tgz" "$OUT/results.tgz"; }
( while true; do sleep 15; copy_results; done ) > /dev/null 2>&1 &
COPIER=$!
finish_call() { kill "$COPIER" 2>/dev/null; copy_results; }
F="quant_api\|Configuration class\|cpp extensions\|register_constant\|_C_\|torchvision"
# bf16_ab NAME MODEL BATCHES ENV VARIANTS [SECONDS]: the BF16 decode step A/B'd over VARIANTS of ENV in one process
# (bench_decode_ab.py, 3 interleaved rounds) into $R/NAME/ab.md, its log's tail and exit status into $R/NAME.log;
# SECONDS (default: what is left of the budget less 8) bounds it; $AB_FLAGS adds flags (--rebuild: a setting read when
# the runner is built).
bf16_ab() {
    RECIPE=bf16 decode_ab "$@"
}
# decode_ab NAME MODEL BATCHES ENV VARIANTS [SECONDS]: bf16_ab's A/B of the decode step of $RECIPE (default bf16)
decode_ab() {
    timeout "${6:-$(( $(left) - 8 ))}" python3 benchmarks/bench_decode_ab.py --out "$R/$1" --model "$2" \
        --recipes "${RECIPE:-bf16}" --batch-sizes "$3" --env "$4" --variants "$5" --rounds "${AB_ROUNDS:-3}" \
        ${AB_FLAGS:-} 2>&1 | grep -v "$F" | tail -8 > "$R/$1.log"
    echo "$1 rc ${PIPESTATUS[0]} at $(since) s" >> "$R/$1.log"
}
# long_point NAME RECIPE [PLAN] [SECONDS]: issue 17's long point (2b, 8192 cached tokens x batch 16, `vlmq run --tasks
# speed-long`, 3 repeats) of RECIPE with $VLMQ_ATTENTION_PLAN=PLAN (empty or `default`: the engine's) into $R/NAME (its
# store dropped), its log's tail and exit status appended to $R/long.log, bounded by SECONDS (default 85)
long_point() {
    local plan=${3:-}
    [ "$plan" = default ] && plan=
    VLMQ_ATTENTION_PLAN=$plan timeout "${4:-85}" python3 -m vlmq run --model qwen2-vl-2b --recipes "$2" \
        --tasks speed-long --launcher subprocess --quiet --fresh --out "$R/$1" 2>&1 | grep -v "$F" | tail -2 >> "$R/long.log"
    echo "long $1 ($2, plan ${3:-default}) rc ${PIPESTATUS[0]} at $(since) s" >> "$R/long.log"
    rm -f "$R/$1"/*.sqlite* 2>/dev/null
}
# speed_table NAME MODEL RECIPES SECONDS [FLAGS...]: bench_speed.py's table of RECIPES at batch 1 and 16, 2 repeats,
# the speed task alone, into $R/NAME (its log's tail and exit status into $R/NAME.log), bounded by SECONDS (its own
# --budget-s 10 s under them, so the recipes it finished are exported); FLAGS after bench_speed's (a later one wins).
# A run folder's results.jsonl identical to the merged one beside it is dropped (records travel with every later call,
# under the device tool's 64 MiB)
speed_table() {
    timeout "$4" python3 benchmarks/bench_speed.py --out "$R/$1" --models "$2" --recipes "$3" --batch-sizes 1,16 \
        --repeats 2 --tasks speed --long-context-recipes '' --budget-s $(( $4 - 10 )) "${@:5}" 2>&1 | grep -v "$F" \
        | tail -14 > "$R/$1.log"
    echo "$1 rc ${PIPESTATUS[0]} at $(since) s" >> "$R/$1.log"
    for run in "$R/$1"/run_*/results.jsonl; do
        [ -f "$run" ] && cmp -s "$run" "$R/$1/results.jsonl" && rm -f "$run"
    done
}
# gpu_tests NAME SECONDS [PYTEST ARGS...]: GPU-marked tests (default: every test file) on GPU_TEST_WORKERS processes
# (pytest-xdist, on the lent image; default 12 of the 16 cores: each parametrization compiles its Triton kernels on the
# CPU, which serially took ~2000 s for the whole suite on a bare machine), one result line a test as it finishes (so a
# run its timeout cuts still shows which passed and failed) and each failure's message at the end, into $R/NAME.log;
# with pytest-timeout there (the lent image has it), a test hung past GPU_TEST_TIMEOUT seconds (300) fails alone
# instead of holding its process until the call's timeout cuts the summary
gpu_tests() {
    local per_test=()
    python3 -c "import pytest_timeout" > /dev/null 2>&1 && per_test=(--timeout "${GPU_TEST_TIMEOUT:-300}")
    timeout "$2" python3 -m pytest -v -m gpu -p no:cacheprovider -n "${GPU_TEST_WORKERS:-12}" --dist load --tb=short \
        -rfE "${per_test[@]}" "${@:3}" 2>&1 | grep -v "$F" > "$R/$1.log"
    echo "$1 rc ${PIPESTATUS[0]} at $(since) s" >> "$R/$1.log"
}
# phase_boundary CHAIN SECONDS [FLAGS...]: bench_phase_boundary.py on the CHAIN (2b, 7b) decoder's GEMV chain, 50
# replays a variant, FLAGS after its own, into $R/pbCHAIN (its log's tail and exit status into $R/pbCHAIN.log), bounded
# by SECONDS
phase_boundary() {
    timeout "$2" python3 benchmarks/bench_phase_boundary.py --out "$R/pb$1" --chain "$1" --reps 50 "${@:3}" 2>&1 \
        | grep -v "$F" | tail -24 > "$R/pb$1.log"
    echo "pb$1 rc ${PIPESTATUS[0]} at $(since) s" >> "$R/pb$1.log"
}
# w4_tiles SECONDS [FLAGS...]: the shipped int4 tiles against every tensor-core GEMV configuration on this machine
# (bench_w4_mma.py with FLAGS into $R/bench, its output and exit status into $R/bench.log), bounded by SECONDS
w4_tiles() {
    timeout "$1" python3 benchmarks/bench_w4_mma.py --out "$R/bench" --reps 20 "${@:2}" 2>&1 | grep -v "$F" \
        > "$R/bench.log"
    echo "bench rc ${PIPESTATUS[0]} at $(since) s" >> "$R/bench.log"
}
# w4mma_checks: the int4 tensor-core GEMV's GPU tests ($R/test.log), every configuration against the shipped Triton
# tiles with the winners into $R/tiles.json (bench_w4_mma.py, $R/bench), and the toy through both engines with every
# int4 decode GEMV on it ($R/engines.log) -- what each new form of cutlass/w4_gemv.cu runs first.
w4mma_checks() {
    timeout 120 python3 -m pytest -q -x -m gpu -p no:cacheprovider --tb=short tests/engine/test_w4_mma_gpu.py \
        2>&1 | grep -v "$F" | tail -8 > "$R/test.log"
    echo "test rc ${PIPESTATUS[0]} at $(since) s" >> "$R/test.log"
    w4_tiles 170 --write-tiles --tiles-out "$R/tiles.json"
    timeout 100 python3 -m pytest -q -m gpu -p no:cacheprovider --tb=short tests/recipes/test_gpu_engines.py -k mma \
        2>&1 | grep -v "$F" | tail -30 > "$R/engines.log"
    echo "engines rc ${PIPESTATUS[0]} at $(since) s" >> "$R/engines.log"
}
