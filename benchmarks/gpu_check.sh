#!/usr/bin/env bash
# One device call that checks vlmq on a CUDA GPU, in stages chosen by STAGES (default: all):
#   tests  - the GPU-marked tests (kernels against their references, eager = compiled greedy answers per recipe)
#   e2e    - `vlmq run` of every recipe on the toy model through the compiled and the eager engine, each
#            compared with the committed CPU run (benchmarks/compare_runs.py: headline within 1 point) and with a
#            committed H200 run, GPU_RUN (exactly: on an H200 any difference is an answer that moved); E2E_MODES
#            picks the engines (default "compiled eager")
#   kernels, attention - the kernel micro-benchmarks (benchmarks/bench_kernels.py, bench_attention.py)
#   sweep  - tile sweep (bench_kernels.py --sweep) at SWEEP_ROWS (default 16,300: batch-16 decode tiles, int4
#            fragment-order ones included, and prefill GEMM tiles against the library path) for SWEEP_MODES, within
#            SWEEP_BUDGET seconds; its JSON feeds `bench_kernels.py --write-tiles`
#   actquant - W8A8 prefill activation quantization, Inductor-fused vs normalize_rows (bench_act_quant.py)
#   dequant - weight-only prefill: dequantization on a second stream vs in series vs BF16 (bench_dequant_overlap.py)
#   soak   - benchmarks/soak.py (thousands of generations, memory sampled over time)
#   speed  - benchmarks/bench_speed.py on SPEED_MODELS (default qwen2-vl-2b then -7b: issue 16's table; SPEED_RECIPES,
#            batch 1 and 16) within SPEED_BUDGET seconds (what did not finish is listed in table.md); with two
#            or more GPUs visible the models run side by side, one GPU each (--gpus);
#            with BASE_REV (a commit) the same runs first on that commit's code, on this machine, for a
#            before -> after table (the lent machines differ too much to compare figures across calls)
# (A one-off call instead: a command.sh that sources benchmarks/device_call.sh, its preamble.)
# Usage on the GPU machine, from the repository root, with the wheels the lent machines lack in .whl/
# (carried with the device tool's `carry: [".whl"]`), fetched once with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl torchao==0.18.0 datasets==5.2.0 \
#     dill==0.4.1 multiprocess==0.70.19 compressed-tensors==0.20.0 pydantic==2.14.4 pydantic-core==2.50.5 \
#     loguru==0.7.3 annotated-types==0.8.0 typing-inspection==0.4.5
#   OUT=/tmp/out STAGES="tests e2e" bash benchmarks/gpu_check.sh
# CUTLASS's prefill GEMMs (engine/kernels/cutlass_gemm.py: weight-only mixed-input, FP8 / int8 W8A8) run where their
# library is built: build it here (no GPU needed, ~9 min on 2 cores), pack it and carry it with the wheels,
# `carry: [".whl", "build/packed"]` (carried_libs.sh unpacks it there):
#   pip install --no-deps nvidia-cutlass && VLMQ_CUTLASS_LIB=build/cutlass/libvlmq_mixed_gemm.so \
#     python -m vlmq.engine.kernels.cutlass_build --build && mkdir -p build/packed && \
#     tar -cJf build/packed/libs.tar.xz -C build cutlass/libvlmq_mixed_gemm.so
# (this script then exports VLMQ_CUTLASS_LIB; without the library the engine keeps its library paths -- dequantize
# then cuBLAS, _scaled_mm, the Triton int8 GEMM -- and tests/engine/test_cutlass_gpu.py skips).
set -uo pipefail
OUT=${OUT:-/tmp/vlmq-gpu-check}
STAGES=${STAGES:-tests e2e kernels attention soak}
SPEED_RECIPES=${SPEED_RECIPES:-bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq}
SPEED_MODELS=${SPEED_MODELS:-qwen2-vl-2b,qwen2-vl-7b}
CPU_RUN=${CPU_RUN:-benchmarks/results/cpu-toy/results.jsonl}
# the toy through the compiled engine on an H200 (sixteenth session; the thirty-third's run equals it on every headline
# it finished): the e2e stage's exact reference on that GPU
GPU_RUN=${GPU_RUN:-benchmarks/results/h200-2026-12-01m/call1-tests-e2e/e2e/results.jsonl}
E2E_DIR=${E2E_DIR:-/tmp/vlmq-gpu}  # the e2e stage's runs: $E2E_DIR-compiled, $E2E_DIR-eager
RECIPES=${RECIPES:-bf16,int8_wo,int4_wo,smoothquant,fp8,int4_awq,nvfp4,fp8+kv_fp8_text,fp8+kv_fp8_vis}
mkdir -p "$OUT"
. "$(dirname "${BASH_SOURCE[0]}")/carried_libs.sh"  # build/packed unpacked, VLMQ_CUTLASS_LIB exported
if ! python3 -c "import torchao, datasets, compressed_tensors" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/device.txt"
python3 -c "import torch, transformers, triton; print('torch', torch.__version__, 'transformers', transformers.__version__, 'triton', triton.__version__)" | tee -a "$OUT/device.txt"
has() { [[ " $STAGES " == *" $1 "* ]]; }
if has tests; then
  # one process a few cores (pytest-xdist): each parametrization compiles its Triton kernels on the CPU
  timeout "${TEST_TIMEOUT:-600}" python3 -m pytest -q -m gpu -p no:cacheprovider -n "${TEST_WORKERS:-12}" --dist load \
    -rfE tests 2>&1 | tee "$OUT/gpu_tests.log"
fi
if has e2e; then
  for mode in ${E2E_MODES:-compiled eager}; do
    compile=$([ $mode = compiled ] && echo true || echo false)
    # 9 recipes x 720 samples: the compiled run took longer than 220 s on the H200 (seventh session); a run the
    # timeout cuts keeps its samples in the store, and `vlmq report` exports whatever finished
    timeout "${RUN_TIMEOUT:-540}" python3 -m vlmq run --model toy --recipes "$RECIPES" \
      --tasks shapes-vqa,shapes-pope,shapes-mme --limit "${LIMIT:-120}" --compile $compile \
      --out "$E2E_DIR-$mode" --quiet --fresh 2>&1 | tee "$OUT/run_$mode.log"
    [ -f "$E2E_DIR-$mode"/results.jsonl ] || python3 -m vlmq report "$E2E_DIR-$mode" 2>&1 | tail -1
    cp "$E2E_DIR-$mode"/results.jsonl "$OUT/results_$mode.jsonl" 2>/dev/null
    python3 benchmarks/compare_runs.py "$CPU_RUN" "$OUT/results_$mode.jsonl" --tol 1 2>&1 | tee "$OUT/compare_$mode.md"
    # and against a committed H200 run, exactly: the CPU comparison shows the same known GPU-vs-CPU difference every
    # time (fp8's POPE, two answers), this one any greedy answer that moved on the GPU
    python3 benchmarks/compare_runs.py "$GPU_RUN" "$OUT/results_$mode.jsonl" --tol 0 2>&1 \
      | tee "$OUT/compare_${mode}_gpu.md"
  done
fi
if has kernels && [ -f benchmarks/bench_kernels.py ]; then
  timeout "${KERNEL_TIMEOUT:-360}" python3 benchmarks/bench_kernels.py --out "$OUT/kernels" 2>&1 | tee "$OUT/kernels.log"
fi
if has attention && [ -f benchmarks/bench_attention.py ]; then
  timeout "${ATTN_TIMEOUT:-300}" python3 benchmarks/bench_attention.py --out "$OUT/attention" 2>&1 | tee "$OUT/attention.log"
fi
if has sweep; then
  timeout $(( ${SWEEP_BUDGET:-240} + 120 )) python3 benchmarks/bench_kernels.py --out "$OUT/sweep" --sweep --jobs 14 \
    --budget-s "${SWEEP_BUDGET:-240}" --presets 2b,7b --rows "${SWEEP_ROWS:-16,300}" \
    --modes "${SWEEP_MODES:-int4-g128,int8-a16,int8-a8,fp8-a8}" --reps 10 2>&1 | grep -v "quant_api\|Configuration class" \
    | tee "$OUT/sweep.log"
fi
if has actquant; then
  timeout 120 python3 benchmarks/bench_act_quant.py --out "$OUT/actquant" 2>&1 | tail -6 | tee "$OUT/actquant.log"
fi
if has dequant; then
  timeout 240 python3 benchmarks/bench_dequant_overlap.py --out "$OUT/dequant" --preset "${DEQUANT_PRESET:-7b}" 2>&1 \
    | grep -v "quant_api\|Configuration class" | tail -8 | tee "$OUT/dequant.log"
fi
if has soak; then
  timeout "${SOAK_TIMEOUT:-300}" python3 benchmarks/soak.py --out "$OUT/soak" --samples "${SOAK_SAMPLES:-3000}" 2>&1 | tail -3 | tee "$OUT/soak.log"
fi
if has speed; then
  base=()
  if [ -n "${BASE_REV:-}" ]; then  # the device copy may lack .git: then carry the old tree as BASE_SRC
    BASE_SRC=${BASE_SRC:-/tmp/vlmq-base/src}
    [ -d "$BASE_SRC" ] || { mkdir -p /tmp/vlmq-base && git archive "$BASE_REV" src | tar -x -C /tmp/vlmq-base; }
  fi
  if [ -n "${BASE_SRC:-}" ]; then
    if [ -d "$BASE_SRC/vlmq" ]; then base=(--base-src "$BASE_SRC"); else
      echo "no vlmq package under BASE_SRC=$BASE_SRC (carry the old tree, e.g. git archive OLD src): this code only" \
        | tee "$OUT/speed_base_missing.txt"
    fi
  fi
  gpus=()
  n_gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
  [ "$n_gpus" -ge 2 ] && gpus=(--gpus "$(seq -s, 0 $((n_gpus - 1)))")
  python3 benchmarks/bench_speed.py --out /tmp/vlmq-speed --models "$SPEED_MODELS" --recipes "$SPEED_RECIPES" \
    --batch-sizes 1,16 --repeats 2 --tasks speed --long-context-recipes '' --budget-s "${SPEED_BUDGET:-480}" \
    "${base[@]}" "${gpus[@]}" 2>&1 | tail -40 | tee "$OUT/speed.log"
  cp /tmp/vlmq-speed/table.md /tmp/vlmq-speed/results*.jsonl "$OUT/" 2>/dev/null
fi
