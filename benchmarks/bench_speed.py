"""Produce the speed table of docs/benchmarks.md in one call on a CUDA GPU: a thin driver over `vlmq run`.

    PYTHONPATH=src python benchmarks/bench_speed.py --out OUT [--models qwen2-vl-2b,qwen2-vl-7b]

For each model preset (random weights: speed does not depend on them) it runs
`vlmq run --tasks speed,speed-profile --launcher subprocess` over the recipes — one process per recipe,
so VRAM figures are clean and a crash loses one recipe — and, for the first model,
`--tasks speed-long` over BF16 and FP8 KV caches (8k context x batch 16). Everything is the
pipeline's own code (quantization, engine, HF eager baseline, measurement); this script only chooses
the spec, merges the runs' results.jsonl into OUT/results.jsonl (every record names its `model`),
and writes OUT/table.md and the per-kernel profiles OUT/profile_<model>_<recipe>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

DEFAULT_RECIPES = "bf16,int8_wo,fp8,smoothquant,int4_wo,int4_awq"
LONG_CONTEXT_RECIPES = "bf16,bf16+kv_fp8"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--models", default="qwen2-vl-2b,qwen2-vl-7b")
    p.add_argument("--recipes", default=DEFAULT_RECIPES)
    p.add_argument("--batch-sizes", default="1,16")
    p.add_argument("--image-sizes", default="448")
    p.add_argument("--new-tokens", default="64")
    p.add_argument("--repeats", default="3")
    p.add_argument("--tasks", default="speed,speed-profile", help="measurement tasks of the per-model runs")
    p.add_argument(
        "--long-context-recipes",
        default=LONG_CONTEXT_RECIPES,
        help="recipes of the speed-long run on the first model ('' to skip)",
    )
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def vlmq_run(args, model: str, recipes: str, tasks: str, out: pathlib.Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "vlmq",
        "run",
        "--model",
        model,
        "--recipes",
        recipes,
        "--tasks",
        tasks,
        "--launcher",
        "subprocess",
        "--speed-batch-sizes",
        args.batch_sizes,
        "--speed-image-sizes",
        args.image_sizes,
        "--speed-new-tokens",
        args.new_tokens,
        "--speed-repeats",
        args.repeats,
        "--baseline",
        recipes.split(",")[0],
        "--quiet",
        "--fresh",
        "--out",
        str(out),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False)
    log(f"{model} {tasks} ({recipes}): exit {proc.returncode} in {time.perf_counter() - start:.0f}s")


def read_records(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def summary_table(rows: list[dict]) -> str:
    get = {(r["model"], r["recipe"], r["task"], r["metric"]): r.get("value") for r in rows}
    keys = list(dict.fromkeys((r["model"], r["recipe"]) for r in rows if r["task"] == "speed"))
    batches = sorted({int(r["task"][8:]) for r in rows if r["task"].startswith("speed/bs")})
    head = [
        "model",
        "recipe",
        "TTFT ms",
        "vision ms",
        "prefill ms",
        "decode ms/tok",
        "tok/s",
        "x HF eager",
        "% BW bound",
        "static GB",
        "dynamic GB",
        "load peak GB",
    ] + [f"bs{b} ms/tok" for b in batches]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v, p=2: "-" if v is None else (f"{v:.{p}f}" if isinstance(v, float) else str(v))  # noqa: E731
    for model, recipe in keys:
        g = lambda m, t="speed", model=model, recipe=recipe: get.get((model, recipe, t, m))  # noqa: E731
        bw = g("bandwidth_fraction")
        cells = [
            model,
            recipe,
            fmt(g("ttft_ms"), 1),
            fmt(g("vision_ms"), 1),
            fmt(g("prefill_ms"), 1),
            fmt(g("decode_ms_per_token"), 3),
            fmt(g("tokens_per_s"), 0),
            fmt(g("speedup_vs_hf_eager"), 1),
            "-" if bw is None else f"{100 * bw:.0f}%",
            fmt(g("static_vram_gb")),
            fmt(g("dynamic_vram_gb")),
            fmt(g("load_peak_vram_gb")),
        ]
        cells += [
            fmt(g("decode_ms_per_token", f"speed/bs{b}"), 3) if g("oom", f"speed/bs{b}") is None else "OOM"
            for b in batches
        ]
        lines.append("| " + " | ".join(cells) + " |")
    long_rows = [
        r
        for r in rows
        if r["task"].startswith("speed-long/") and r["metric"] in ("decode_ms_per_token", "mem_kv_cache_gb", "oom")
    ]
    if long_rows:
        lines += ["", "| long context | metric | value |", "|---|---|---|"]
        lines += [
            f"| {r['model']} {r['recipe']} {r['task']} | {r['metric']} | {fmt(r['value'], 3)} |" for r in long_rows
        ]
    return "\n".join(lines)


def write_profiles(rows: list[dict], out: pathlib.Path) -> None:
    for r in rows:
        if r["task"] == "speed-profile" and r["metric"] == "kernel_us_per_step":
            name = f"profile_{r['model']}_{r['recipe'].replace('+', '_')}.json"
            (out / name).write_text(json.dumps(r["params"]["top"], indent=1))


def main(argv=None) -> int:
    args = parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for i, model in enumerate(args.models.split(",")):
        runs.append(out / f"run_{model}")
        vlmq_run(args, model, args.recipes, args.tasks, runs[-1])
        if i == 0 and args.long_context_recipes:
            runs.append(out / f"run_{model}_long")
            vlmq_run(args, model, args.long_context_recipes, "speed-long", runs[-1])
    rows = [r for run in runs for r in read_records(run / "results.jsonl")]
    with (out / "results.jsonl").open("w") as sink:
        sink.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    write_profiles(rows, out)
    table = summary_table(rows)
    (out / "table.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
