"""Soak test: thousands of generations across many image sizes through one engine; host RSS and GPU
memory sampled over time must be flat after warm-up (no leak in graphs, caches or the allocator).

    PYTHONPATH=src python benchmarks/soak.py --out OUT [--model toy] [--samples 3000] [--recipe bf16]

The engine is the compiled one on CUDA (CUDA graphs per image grid, captured on a geometry's second
sighting, 4-entry LRU), eager elsewhere. Prompts are the shapes VQA questions over images resized to
``--sizes`` (cycled, so geometries repeat and graphs are replayed and evicted). Every ``--every``
batches one row goes to OUT/soak.csv: samples done, seconds, host RSS (MB), torch allocated and
reserved (MB), NVML used (MB). OUT/soak.json holds the growth of each series between the end of
warm-up and the end of the run, and the verdict.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pathlib
import sys
import time

import torch

from vlmq.device import device_label, resolve_device
from vlmq.engine import Engine, Prompt, memory
from vlmq.models import load_model
from vlmq.pipeline import task_options
from vlmq.recipes import apply_recipe, load_calibration, parse_recipe
from vlmq.spec import RunSpec
from vlmq.tasks import get_task

SERIES = ("rss_mb", "allocated_mb", "reserved_mb", "nvml_mb")
FLAT_MB = {"rss_mb": 64.0, "allocated_mb": 16.0, "reserved_mb": 64.0, "nvml_mb": 64.0}  # allowed growth


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="toy")
    p.add_argument("--recipe", default="bf16")
    p.add_argument("--samples", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--sizes", default="112,168,224,280,336,392,448,504", help="square image sizes (pixels), cycled")
    p.add_argument("--every", type=int, default=10, help="sample memory every N batches")
    p.add_argument("--warmup-frac", type=float, default=0.2, help="share of the run counted as warm-up")
    p.add_argument("--device", default="auto")
    return p.parse_args(argv)


def rss_mb() -> float:
    """Resident set size of this process from /proc (Linux), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def sample_memory(device: torch.device) -> dict[str, float]:
    snap = memory.snapshot(device)
    row = {"rss_mb": rss_mb(), "allocated_mb": float("nan"), "reserved_mb": float("nan"), "nvml_mb": float("nan")}
    if snap is not None:
        row.update(
            allocated_mb=snap.allocated / 2**20,
            reserved_mb=snap.reserved / 2**20,
            nvml_mb=(snap.nvml_used or float("nan")) / 2**20,
        )
    return row


def prompts(n: int, sizes: list[int]) -> list[Prompt]:
    """``n`` shapes VQA prompts, the i-th image resized to ``sizes[i % len(sizes)]`` (square)."""
    samples = [s for s in get_task("shapes-vqa").load(task_options(RunSpec(limit=min(n, 200)))) if not s.failed]
    return [
        Prompt(
            samples[i % len(samples)].prompt.text,
            samples[i % len(samples)].prompt.image.resize((sizes[i % len(sizes)],) * 2),
        )
        for i in range(n)
    ]


def growth(rows: list[dict], warmup_frac: float) -> dict[str, float]:
    """Per series: the value at the end minus the minimum after warm-up (MB); a leak makes it grow."""
    start = max(1, int(len(rows) * warmup_frac))
    tail = rows[start:] or rows
    grown = {k: tail[-1][k] - min(r[k] for r in tail) for k in SERIES}
    return {k: (None if v != v else round(v, 1)) for k, v in grown.items()}  # NaN (no GPU) -> None


def verdict(grown: dict[str, float]) -> str:
    bad = [f"{k} +{v:.0f} MB" for k, v in grown.items() if v is not None and v > FLAT_MB[k]]
    return "flat" if not bad else "growing: " + ", ".join(bad)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    loaded = load_model(args.model, device=str(device))
    spec = parse_recipe(args.recipe)
    calib = load_calibration("builtin", n=8) if spec.recipe.needs_calibration else None
    apply_recipe(loaded, spec, calib)
    engine = Engine(loaded, compile=device.type == "cuda", max_batch_size=args.batch_size, max_seq_len=1024)
    todo = prompts(args.samples, [int(s) for s in args.sizes.split(",")])
    rows, start = [], time.perf_counter()
    with (out / "soak.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["samples", "seconds", *SERIES])
        writer.writeheader()
        for b, first in enumerate(range(0, len(todo), args.batch_size)):
            engine.generate(todo[first : first + args.batch_size], 8)
            if b % args.every == 0 or first + args.batch_size >= len(todo):
                row = {
                    "samples": first + args.batch_size,
                    "seconds": round(time.perf_counter() - start, 2),
                    **{k: round(v, 1) for k, v in sample_memory(device).items()},
                }
                rows.append(row)
                writer.writerow(row)
                fh.flush()
    grown = growth(rows, args.warmup_frac)
    summary = {
        "device": device_label(device),
        "model": args.model,
        "recipe": args.recipe,
        "samples": len(todo),
        "sizes": args.sizes,
        "seconds": rows[-1]["seconds"],
        "growth_after_warmup_mb": grown,
        "verdict": verdict(grown),
        "vision_graphs": engine.compiled.vision.note if engine.compiled else None,
        "pid": os.getpid(),
    }
    (out / "soak.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0 if summary["verdict"] == "flat" else 1


if __name__ == "__main__":
    sys.exit(main())
