#!/usr/bin/env bash
# Wall time of one `vlmq run` on 1 GPU against the same spec under torchrun on N GPUs (data-parallel and
# recipe-parallel), and whether the accuracy records agree. Output for docs/benchmarks.md.
# Usage on a machine with N >= 2 GPUs, from the repository root (wheels in .whl/, see benchmarks/gpu_check.sh):
#   OUT=/tmp/out NPROC=2 bash benchmarks/bench_distributed.sh
# The defaults are the run in docs/benchmarks.md (qwen2-vl-2b preset, bf16 + int8_wo, shapes-vqa + shapes-mme,
# 300 samples each, eager engine so the figure is the pipeline's scaling, not compile time).
set -uo pipefail
OUT=${OUT:-/tmp/vlmq-dist}
NPROC=${NPROC:-2}
MODEL=${MODEL:-qwen2-vl-2b}
RECIPES=${RECIPES:-bf16,int8_wo}
TASKS=${TASKS:-shapes-vqa,shapes-mme}
LIMIT=${LIMIT:-300}
COMPILE=${COMPILE:-false}
WORK=${WORK:-/tmp/vlmq-dist-runs}
mkdir -p "$OUT" "$WORK"
if ! python3 -c "import torchao, datasets" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export NCCL_NVLS_ENABLE=0
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv | tee "$OUT/device.txt"
ARGS=(--model "$MODEL" --recipes "$RECIPES" --tasks "$TASKS" --limit "$LIMIT" --compile "$COMPILE" --quiet --fresh)

timed() {   # name, command...: wall seconds into $OUT/times.tsv, log into $OUT/<name>.log
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  end=$(date +%s.%N)
  printf '%s\t%.1f\t%s\n' "$name" "$(python3 -c "print($end - $start)")" "$rc" | tee -a "$OUT/times.tsv"
}

printf 'run\twall_s\trc\n' > "$OUT/times.tsv"
timed single env CUDA_VISIBLE_DEVICES=0 python3 -m vlmq run "${ARGS[@]}" --out "$WORK/single"
timed "data$NPROC" torchrun --standalone --nproc_per_node "$NPROC" -m vlmq run "${ARGS[@]}" --out "$WORK/data$NPROC"
timed "recipe$NPROC" torchrun --standalone --nproc_per_node "$NPROC" -m vlmq run "${ARGS[@]}" --parallel recipe \
  --out "$WORK/recipe$NPROC"

python3 - "$WORK" "$OUT" "$NPROC" <<'EOF'
import json, pathlib, sys
work, out, nproc = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]

def accuracy(run):
    path = work / run / "results.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["recipe"], r["task"], r["metric"]): r["value"] for r in rows if not str(r["task"]).startswith("speed")}

single = accuracy("single")
times = {line.split("\t")[0]: float(line.split("\t")[1]) for line in (out / "times.tsv").read_text().splitlines()[1:]}
report = {"times_s": times, "n_accuracy_records": len(single or {})}
for run in (f"data{nproc}", f"recipe{nproc}"):
    other = accuracy(run)
    report[run] = {"speedup": times["single"] / times[run] if times.get(run) else None,
                   "records_identical": other == single and single is not None}
(out / "summary.json").write_text(json.dumps(report, indent=2))
print(json.dumps(report, indent=2))
EOF
cp "$WORK"/single/report.md "$OUT/single_report.md" 2>/dev/null
