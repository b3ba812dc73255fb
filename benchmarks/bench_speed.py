"""Produce the speed table of docs/benchmarks.md in one call on a CUDA GPU: a thin driver over `vlmq run`.

    PYTHONPATH=src python benchmarks/bench_speed.py --out OUT [--models qwen2-vl-2b,qwen2-vl-7b]

For each model preset (random weights: speed does not depend on them) it runs
`vlmq run --tasks speed,speed-profile --launcher subprocess` over the recipes — one process per recipe,
so VRAM figures are clean and a crash loses one recipe — and, for the first model,
`--tasks speed-long` over BF16 and FP8 KV caches (8k context x batch 16). Everything is the
pipeline's own code (quantization, engine, HF eager baseline, measurement); this script only chooses
the spec, merges the runs' results.jsonl into OUT/results.jsonl (every record names its `model`),
and writes OUT/table.md, the per-kernel profiles OUT/profile_<model>_<recipe>.json and OUT/bars.md (issues 16 and
17's performance bars against this run's figures: check_bars.py).

`--budget-s S` bounds the whole call (a device call has a hard limit): a run still going WRAP_UP_S before the
budget ends is stopped, and what its store already holds (the recipes it finished) is exported with `vlmq report`
and merged like the rest, within the budget; runs not started are skipped. The log and OUT/table.md say which.

`--base-src DIR` measures a change on one machine (the lent machines differ too much for figures from two calls
to be compared): every run is preceded by the same run with the `vlmq` package of DIR (another checkout's `src`,
e.g. `git archive OLD src | tar -x -C /tmp/old` → /tmp/old/src); its records go to OUT/results_base.jsonl and
OUT/table.md gains a before → after table with the ratio of each figure.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from check_bars import report as bars_report

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
    p.add_argument(
        "--base-src",
        default=None,
        help="also run every run with the vlmq package of this source folder first, for a before/after table",
    )
    p.add_argument(
        "--gpus",
        default="",
        help="GPU indices (e.g. 0,1): models run side by side, one GPU each (round robin; each model's runs stay "
        "on one GPU, in order); default: one after another on the visible device",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="stop after this many seconds, keeping every finished recipe (default: no limit)",
    )
    args = p.parse_args(argv)
    if args.budget_s is not None and args.budget_s < 0:
        p.error(f"--budget-s must be >= 0 seconds (got {args.budget_s:g})")
    if args.gpus and not all(g.strip().isdigit() for g in args.gpus.split(",")):
        p.error(f"--gpus takes GPU indices such as 0,1 (got {args.gpus!r})")
    if args.base_src and not (pathlib.Path(args.base_src) / "vlmq" / "__init__.py").is_file():
        p.error(
            f"--base-src {args.base_src} holds no vlmq package: pass another checkout's src folder "
            "(e.g. git archive OLD src | tar -x -C /tmp/old, then /tmp/old/src)"
        )
    return args


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def vlmq_run(
    args,
    model: str,
    recipes: str,
    tasks: str,
    out: pathlib.Path,
    budget_s: float | None = None,
    src: str | None = None,
    gpu: str | None = None,
) -> bool:
    """One `vlmq run` (with the vlmq package of ``src`` first on the path, if given; on GPU ``gpu`` alone, if
    given); False where the budget stopped it (its finished recipes are then exported from its store)."""
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
    # its own process group: the per-recipe subprocesses are stopped with it
    proc = subprocess.Popen(cmd, env=run_env(src, gpu), start_new_session=True)
    try:
        proc.wait(timeout=budget_s)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        log(f"{model} {tasks} ({recipes}): stopped by --budget-s after {time.perf_counter() - start:.0f}s")
        export_stored(out, src, gpu)
        return False
    log(f"{model} {tasks} ({recipes}): exit {proc.returncode} in {time.perf_counter() - start:.0f}s")
    return True


def run_env(src: str | None, gpu: str | None = None) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    if src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(pathlib.Path(src).resolve()), env.get("PYTHONPATH")) if p)
    return env


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the run's process group, SIGKILL if it has not ended 10 s later."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait_s)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def export_stored(run_dir: pathlib.Path, src: str | None = None, gpu: str | None = None) -> None:
    """results.jsonl of a stopped run from what its store holds (`vlmq report`, which re-derives it)."""
    proc = subprocess.run(
        [sys.executable, "-m", "vlmq", "report", str(run_dir)],
        capture_output=True,
        text=True,
        check=False,
        env=run_env(src, gpu),
    )
    lines = (proc.stdout + proc.stderr).strip().splitlines() or [f"exit {proc.returncode}"]
    log(f"exported the stopped run's stored records: {'ok' if proc.returncode == 0 else lines[-1]}")


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


AB_METRICS = ("decode_ms_per_token", "ttft_ms", "vision_ms", "prefill_ms")


def before_after_table(base: list[dict], new: list[dict], base_src: str) -> str:
    """Every speed figure measured by both codes: before → after and their ratio (after / before)."""
    key = lambda r: (r["model"], r["recipe"], r["task"], r["metric"])  # noqa: E731
    before = {key(r): r.get("value") for r in base if r["metric"] in AB_METRICS}
    lines = [
        f"before ({base_src}) → after (this code), one machine:",
        "",
        "| model | recipe | task | metric | before | after | after / before |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in new:
        old = before.get(key(r))
        if r["metric"] in AB_METRICS and r["task"].startswith("speed") and old and r.get("value") is not None:
            lines.append(
                f"| {r['model']} | {r['recipe']} | {r['task']} | {r['metric']} | {old:.3f} | {r['value']:.3f} | "
                f"{r['value'] / old:.3f} |"
            )
    return "\n".join(lines)


PROFILE_METRICS = ("kernel_us_per_step", "kernel_us_per_first_token")


def profile_markdown(rows: list[dict]) -> str:
    """The kernel-profile records (speed-profile's, and speed-long's step) as readable tables: per decoder-layer
    place (decode) and by kernel name."""
    out = []
    for r in rows:
        if r["metric"] not in PROFILE_METRICS:
            continue
        out += ["", f"### {r['model']} {r['recipe']} {r['task']}: {r['value']:.0f} µs of kernels ({r['metric']})", ""]
        layer = r["params"].get("layer")
        if layer:
            total = sum(p.get("added_us", p["us"]) for p in layer["places"])
            rest = sum(o[-1] for o in layer["outside"])
            out += [
                f"{layer['layers']} layers x {layer['period']} kernels ({total:.1f} µs a layer added to the step); "
                f"outside the layers {len(layer['outside'])} kernels, {rest:.1f} µs",
                "",
                "| place | kernel | µs (mean) | min | max | added to the step |",
                "|---|---|---|---|---|---|",
            ]
            out += [
                f"| {p['place']} | {p['kernel'][:60]} | {p['us']:.2f} | {p['min']:.2f} | {p['max']:.2f} | "
                f"{p.get('added_us', float('nan')):.2f} |"
                for p in layer["places"]
            ]
            out += [""]
        out += ["| kernel | µs | calls |", "|---|---|---|"]
        out += [
            f"| {t['kernel'][:70]} | {t['us_per_step']:.1f} | {t['calls_per_step']:g} |" for t in r["params"]["top"]
        ]
    return "\n".join(out)


def write_profiles(rows: list[dict], out: pathlib.Path) -> None:
    found = [r for r in rows if r["metric"] in PROFILE_METRICS]
    if found:
        (out / "profiles.json").write_text(json.dumps(found, indent=1))
        (out / "profiles.md").write_text(profile_markdown(found) + "\n")


def run_queue(args, queue: list[tuple], deadline: float | None, gpu: str | None) -> dict:
    """The planned runs of one GPU, in order (each first with --base-src's package, if given), within the
    deadline: the (model, run folder) of each code's runs and the notes on what the budget cut."""
    out = pathlib.Path(args.out)
    runs, notes = {"base": [], "new": []}, []
    for model, recipes, tasks, name in queue:
        for code, src in ([("base", args.base_src)] if args.base_src else []) + [("new", None)]:
            label = f"{model} {tasks} ({recipes}){' with --base-src' if src else ''}"
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                notes.append(f"not run (--budget-s): {label}")
                log(notes[-1])
                continue
            run_dir = out / (f"{name}_base" if src else name)
            runs[code].append((model, run_dir))
            if not vlmq_run(args, model, recipes, tasks, run_dir, left, src, gpu):
                notes.append(f"stopped by --budget-s: {label}; recipes without rows did not finish")
    return {"runs": runs, "notes": notes}


# What a stopped run needs after its stop within --budget-s: stop_group's SIGTERM and SIGKILL waits (up to 20 s),
# `vlmq report`'s export of its store and the merge. A device call once ended bench_speed.py inside it, losing the
# stopped run's export.
WRAP_UP_S = 30.0


def main(argv=None) -> int:
    args = parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    deadline = None if args.budget_s is None else time.monotonic() + args.budget_s - WRAP_UP_S
    planned = []
    for i, model in enumerate(args.models.split(",")):
        planned.append((model, args.recipes, args.tasks, f"run_{model}"))
        if i == 0 and args.long_context_recipes:
            planned.append((model, args.long_context_recipes, "speed-long", f"run_{model}_long"))
    gpus = [g.strip() for g in args.gpus.split(",")] if args.gpus else [None]
    models = list(dict.fromkeys(model for model, *_ in planned))
    queues = {gpu: [p for p in planned if models.index(p[0]) % len(gpus) == i] for i, gpu in enumerate(gpus)}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(gpus)) as pool:
        done = {gpu: pool.submit(run_queue, args, queue, deadline, gpu) for gpu, queue in queues.items()}
    found = [done[gpu].result() for gpu in gpus]
    order = lambda run: models.index(run[0])  # noqa: E731 -- merged in the planned order, whichever GPU ran them
    runs = {
        code: [d for _, d in sorted((r for f in found for r in f["runs"][code]), key=order)]
        for code in found[0]["runs"]
    }
    notes = [note for f in found for note in f["notes"]]
    rows = [r for run in runs["new"] for r in read_records(run / "results.jsonl")]
    if args.base_src:
        base_rows = [r for run in runs["base"] for r in read_records(run / "results.jsonl")]
        with (out / "results_base.jsonl").open("w") as sink:
            sink.writelines(json.dumps(r, sort_keys=True) + "\n" for r in base_rows)
        notes.insert(0, "\n" + before_after_table(base_rows, rows, args.base_src))
    with (out / "results.jsonl").open("w") as sink:
        sink.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    write_profiles(rows, out)
    table = "\n".join([summary_table(rows), *(f"\n{note}" for note in notes)])
    (out / "table.md").write_text(table + "\n")
    (out / "bars.md").write_text(bars_report(rows) + "\n")  # issues 16 / 17, this run's figures
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
