"""benchmarks/gpu_check.sh's e2e stage, run here in bash with stand-ins for the GPU machine's nvidia-smi and python3
(whose ``vlmq run`` writes a prepared results.jsonl; compare_runs.py runs for real): each mode's run is compared with
the committed CPU run within a point and with the committed H200 run exactly."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

STAND_IN = """#!/bin/bash
# python3 on the stand-in GPU machine
case "$1" in
  -c) case "$2" in *print*) echo "torch 0 transformers 0 triton 0";; esac; exit 0;;
  -m) shift 2  # "-m vlmq"
      [ "$1" = run ] || exit 0
      while [ $# -gt 0 ]; do
        case "$1" in --out) out=$2;; --compile) compile=$2;; esac; shift
      done
      mkdir -p "$out" && cp "$FAKE_RUNS/$compile.jsonl" "$out/results.jsonl"; echo "run into $out"; exit 0;;
  *) exec "$REAL_PYTHON" "$@";;
esac
"""


def headline_rows(values: dict) -> str:
    rows = [
        {"recipe": r, "task": t, "value": v, "display_scale": 100.0, "unit": "%", "headline": True}
        for (r, t), v in values.items()
    ]
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_e2e_compares_each_mode_with_the_cpu_run_and_exactly_with_the_gpu_run(tmp_path):
    for name in ("gpu_check.sh", "carried_libs.sh", "compare_runs.py"):
        (tmp_path / "benchmarks").mkdir(exist_ok=True)
        shutil.copy(ROOT / "benchmarks" / name, tmp_path / "benchmarks" / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'NVIDIA H200, 580.00, 143771 MiB'\n")
    (bin_dir / "python3").write_text(STAND_IN)
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    gpu = {("bf16", "shapes-vqa"): 0.942, ("fp8", "shapes-pope"): 0.984}
    cpu = {("bf16", "shapes-vqa"): 0.942, ("fp8", "shapes-pope"): 0.968}  # the known GPU-vs-CPU answers
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "cpu.jsonl").write_text(headline_rows(cpu))
    (runs / "gpu.jsonl").write_text(headline_rows(gpu))
    (runs / "true.jsonl").write_text(headline_rows(gpu))  # compiled: as the H200 answered before
    (runs / "false.jsonl").write_text(headline_rows({**gpu, ("bf16", "shapes-vqa"): 0.950}))  # eager: one moved
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OUT": str(out),
        "STAGES": "e2e",
        "CPU_RUN": str(runs / "cpu.jsonl"),
        "GPU_RUN": str(runs / "gpu.jsonl"),
        "E2E_DIR": str(tmp_path / "e2e"),
        "FAKE_RUNS": str(runs),
        "REAL_PYTHON": sys.executable,
    }
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = {p.name: p.read_text() for p in out.glob("compare_*.md")}
    assert sorted(report) == [
        "compare_compiled.md",
        "compare_compiled_gpu.md",
        "compare_eager.md",
        "compare_eager_gpu.md",
    ]
    for mode in ("compiled", "eager"):  # the CPU comparison shows the known 1.6 points either way
        assert "largest difference: 1.60 (tolerance 1.0)" in report[f"compare_{mode}.md"], report
    assert "largest difference: 0.00 (tolerance 0.0)" in report["compare_compiled_gpu.md"], report
    assert "| bf16 | shapes-vqa | 94.2 % | 95.0 % | +0.8 |" in report["compare_eager_gpu.md"], report
    assert "largest difference: 0.80 (tolerance 0.0)" in report["compare_eager_gpu.md"], report
    assert (out / "results_eager.jsonl").read_text() == (runs / "false.jsonl").read_text()
    shutil.rmtree(out)
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh"], cwd=tmp_path, env={**env, "E2E_MODES": "eager"}, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("compare_*.md")) == ["compare_eager.md", "compare_eager_gpu.md"]
