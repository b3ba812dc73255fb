#!/usr/bin/env bash
# One device call that checks vlmq on a CUDA GPU: the GPU-marked engine/recipe/model tests, then (unless RUN=0) an end-to-end
# `vlmq run` of every recipe on the toy model (accuracy through the engine on CUDA).
# Usage on the GPU machine, from the repository root, with the wheels the lent machines lack in .whl/
# (torchao, datasets, dill, multiprocess; carried with the device tool's `carry: [".whl"]`), fetched once with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     torchao==0.18.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
#   OUT=/tmp/out bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/vlmq-gpu-check}
mkdir -p "$OUT"
if ! python3 -c "import torchao, datasets" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/device.txt"
python3 -c "import torch, transformers, torchao; print('torch', torch.__version__, 'transformers', transformers.__version__, 'torchao', torchao.__version__)" | tee -a "$OUT/device.txt"
timeout "${TEST_TIMEOUT:-240}" python3 -m pytest -q -m gpu -p no:cacheprovider tests/engine tests/recipes tests/models 2>&1 | tee "$OUT/gpu_tests.log"
[ "${RUN:-1}" = 1 ] || exit 0
timeout "${RUN_TIMEOUT:-200}" python3 -m vlmq run --model toy \
  --recipes bf16,int8_wo,int4_wo,smoothquant,fp8,int4_awq,nvfp4,fp8+kv_fp8_text,fp8+kv_fp8_vis \
  --tasks shapes-vqa,shapes-pope,shapes-mme --limit "${LIMIT:-120}" --compile false --out /tmp/vlmq-gpu-run --quiet 2>&1 | tee "$OUT/run.log"
cp /tmp/vlmq-gpu-run/results.jsonl /tmp/vlmq-gpu-run/report.md "$OUT/" 2>/dev/null
