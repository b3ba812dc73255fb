"""Produce the speed table of docs/benchmarks.md in one run on a CUDA GPU.

    PYTHONPATH=src python benchmarks/bench_speed.py --out bench_out

For each recipe: load the preset with random weights, quantize its text decoder through vlmq.recipes,
run vlmq.engine.speed.run_speed (compiled engine, HF eager BF16 baseline measured in the same run, batch
sweep), then the long-context decode (8k x batch 16, BF16 vs FP8 KV) and per-kernel decode profiles.
Every recipe runs in its own process (clean VRAM figures: nothing of the previous recipe, its compiled
graphs included, stays allocated); the HF eager baseline measured by the bf16 process is handed to the
others through OUT/hf_baseline.json. Every record goes to OUT/results.jsonl as it is produced;
OUT/table.md holds the summary table.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
import traceback
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

import torch  # noqa: E402

from vlmq.engine import KVConfig  # noqa: E402
from vlmq.engine import memory  # noqa: E402
from vlmq.engine.speed import (  # noqa: E402
    SpeedOptions,
    known_hf_eager_baseline,
    long_context_decode,
    profile_decode,
    remember_hf_eager_baseline,
    run_speed,
)

DEFAULT_RECIPES = "bf16,int8_wo,fp8,int4_wo,smoothquant,int4_awq"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="qwen2-vl-2b")
    p.add_argument("--recipes", default=DEFAULT_RECIPES)
    p.add_argument("--batch-sizes", default="1,4,16,64")
    p.add_argument("--image-sizes", default="448")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--warmups", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--long-context", type=int, default=8192)
    p.add_argument("--long-batch", type=int, default=16)
    p.add_argument("--profile", default="bf16,int8_wo", help="recipes whose decode step is profiled")
    p.add_argument("--device", default="cuda")
    p.add_argument("--microbench", action="store_true", help="time the GEMV kernels against cuBLAS first")
    p.add_argument("--bf16-triton", action="store_true", help="also time BF16 with the Triton GEMV (default point)")
    p.add_argument("--in-process", action="store_true", help="run every recipe in this process (no subprocesses)")
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_quantized(model_name: str, recipe: str, device: str):
    """(loaded, spec, kernel label, peak bytes while loading + quantizing)."""
    from vlmq.models import load_model
    from vlmq.recipes import apply_recipe, kernel_label, load_calibration, parse_recipe

    spec = parse_recipe(recipe)
    with memory.track_peak(torch.device(device)) as peak:
        loaded = load_model(model_name, device=device)
        calib = load_calibration("builtin", n=8, seq_len=256) if spec.recipe.needs_calibration else None
        apply_recipe(loaded, spec, calib)
    return loaded, spec, kernel_label(spec, loaded.model.device), peak["allocated"]


def bench_recipe(args, recipe: str, out: pathlib.Path) -> list[dict]:
    start = time.perf_counter()
    loaded, spec, kernel, load_peak = load_quantized(args.model, recipe, args.device)
    log(f"{recipe}: loaded + quantized in {time.perf_counter() - start:.1f}s (peak {load_peak / 1e9:.2f} GB), kernel={kernel}")
    if kernel != "real":
        return [{"recipe": recipe, "task": "speed", "metric": "skipped", "value": None, "kernel": kernel,
                 "params": {"reason": "emulated on this device: no speed figure"}}]
    opts = SpeedOptions(batch_sizes=tuple(int(b) for b in args.batch_sizes.split(",")),
                        image_sizes=tuple(int(s) for s in args.image_sizes.split(",")),
                        new_tokens=args.new_tokens, warmups=args.warmups, repeats=args.repeats,
                        kv=KVConfig(dtype=spec.kv.dtype, strategy="dynamic") if spec.kv.dtype == "fp8" else KVConfig(),
                        fp8_attention=spec.fp8_attention)
    baseline_file = out / "hf_baseline.json"
    if baseline_file.exists():
        remember_hf_eager_baseline(loaded, opts, json.loads(baseline_file.read_text()))
    rows = run_speed(loaded, recipe, kernel, opts)
    if recipe == "bf16" and known_hf_eager_baseline(loaded, opts):
        baseline_file.write_text(json.dumps(known_hf_eager_baseline(loaded, opts)))
    rows.append({"recipe": recipe, "task": "speed", "metric": "load_quantize_peak_vram_gb", "value": load_peak / 1e9,
                 "ci_low": None, "ci_high": None, "n": 1, "kernel": kernel, "device": rows[0]["device"]})
    log(f"{recipe}: speed done in {time.perf_counter() - start:.1f}s")
    if recipe == "bf16" and args.bf16_triton:
        rows += run_speed(loaded, "bf16[triton-gemv]", kernel,
                          replace(opts, batch_sizes=(1,), image_sizes=opts.image_sizes[:1], bf16_kernel="triton"))
        log("bf16 with the Triton GEMV done")
    if recipe == "bf16" and args.long_context:
        for kv in (KVConfig(), KVConfig(dtype="fp8", strategy="dynamic")):
            rows += long_context_decode(loaded, f"bf16+kv_{kv.dtype}", kernel, kv=kv, batch=args.long_batch,
                                        context=args.long_context)
            log(f"long context kv={kv.dtype} done")
    if recipe in args.profile.split(","):
        from vlmq.engine import Engine

        engine = Engine(loaded, compile=True, max_batch_size=1, max_seq_len=512)
        profile = profile_decode(engine)
        (out / f"profile_{recipe}.json").write_text(json.dumps(profile, indent=1))
        log(f"{recipe} decode profile (us per step): " + "; ".join(
            f"{r['kernel'][:50]} {r['us_per_step']:.0f} ({r['calls_per_step']:.0f}x)" for r in profile[:12]))
        rows.append({"recipe": recipe, "task": "speed/profile", "metric": "kernel_us_per_step",
                     "value": sum(r["us_per_step"] for r in profile), "n": 1, "kernel": kernel,
                     "params": {"top": profile[:12]}})
    del loaded
    torch.cuda.empty_cache()
    return rows


GEMV_SHAPES = {"qkv": (2048, 1536), "o_proj": (1536, 1536), "gate_up": (17920, 1536), "down": (1536, 8960)}


def microbench(out: pathlib.Path) -> None:
    """Decode-shape (M=1) linears of qwen2-vl-2b: cuBLAS BF16 vs the Triton GEMV per weight format, in
    a CUDA graph (triton.testing.do_bench_cudagraph), so launch gaps do not count."""
    import triton.testing

    from vlmq.engine.kernels.w8 import _launch_w8_gemv, quantize_activation, w8_linear

    lines = ["| shape | kernel | us | TB/s (weight bytes) |", "|---|---|---|---|"]
    for name, (n, k) in GEMV_SHAPES.items():
        x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02
        w8 = torch.randint(-127, 128, (n, k), device="cuda", dtype=torch.int8)
        wf8 = (w * 100).to(torch.float8_e4m3fn)
        scale = torch.rand(n, device="cuda")
        xi8, si8 = quantize_activation(x, "int8")
        xf8, sf8 = quantize_activation(x, "fp8")
        cases = {"cublas bf16": (lambda: torch.nn.functional.linear(x, w), 2),
                 "triton bf16": (lambda: w8_linear(x, w, scale, None, None, torch.bfloat16), 2),
                 "triton int8 W8A16": (lambda: w8_linear(x, w8, scale, None, None, torch.bfloat16), 1),
                 "triton int8 W8A8": (lambda: w8_linear(xi8, w8, scale, si8, None, torch.bfloat16), 1),
                 "triton fp8 W8A16": (lambda: w8_linear(x, wf8, scale, None, None, torch.bfloat16), 1),
                 "triton fp8 W8A8": (lambda: w8_linear(xf8, wf8, scale, sf8, None, torch.bfloat16), 1)}
        for split in (1, 2, 4, 8):    # evidence for vlmq.engine.kernels.gemv_split_k
            cases[f"triton int8 W8A16 split_k={split}"] = (
                lambda split=split: _launch_w8_gemv(x, w8, scale, None, None, torch.bfloat16, split_k=split), 1)
            cases[f"triton bf16 split_k={split}"] = (
                lambda split=split: _launch_w8_gemv(x, w, scale, None, None, torch.bfloat16, split_k=split), 2)
        for label, (fn, bytes_per) in cases.items():
            fn()
            us = triton.testing.do_bench_cudagraph(fn, rep=20) * 1e3
            lines.append(f"| {name} {n}x{k} | {label} | {us:.1f} | {n * k * bytes_per / us / 1e6:.2f} |")
    text = "\n".join(lines)
    (out / "microbench.md").write_text(text + "\n")
    print(text, flush=True)


def summary_table(rows: list[dict]) -> str:
    get = {}
    for r in rows:
        get[(r["recipe"], r["task"], r["metric"])] = r.get("value")
    recipes = list(dict.fromkeys(r["recipe"] for r in rows if r["task"] == "speed"))
    batches = sorted({int(r["task"][8:]) for r in rows if r["task"].startswith("speed/bs")})
    head = ["recipe", "TTFT ms", "vision ms", "prefill ms", "decode ms/tok", "tok/s", "x HF eager", "% BW bound",
            "static GB", "dynamic GB", "load peak GB"] + [f"bs{b} ms/tok" for b in batches]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v, p=2: "-" if v is None else (f"{v:.{p}f}" if isinstance(v, float) else str(v))  # noqa: E731
    for rc in recipes:
        g = lambda m, t="speed": get.get((rc, t, m))  # noqa: E731
        bw = g("bandwidth_fraction")
        cells = [rc, fmt(g("ttft_ms"), 1), fmt(g("vision_ms"), 1), fmt(g("prefill_ms"), 1), fmt(g("decode_ms_per_token"), 3),
                 fmt(g("tokens_per_s"), 0), fmt(g("speedup_vs_hf_eager"), 1), "-" if bw is None else f"{100 * bw:.0f}%",
                 fmt(g("static_vram_gb")), fmt(g("dynamic_vram_gb")), fmt(g("load_quantize_peak_vram_gb"))]
        cells += [fmt(g("decode_ms_per_token", f"speed/bs{b}"), 3) if g("oom", f"speed/bs{b}") is None else "OOM"
                  for b in batches]
        lines.append("| " + " | ".join(cells) + " |")
    long_rows = [r for r in rows if r["task"].startswith("speed/ctx") and r["metric"] in ("decode_ms_per_token", "mem_kv_cache_gb", "oom")]
    if long_rows:
        lines += ["", "| long context | metric | value |", "|---|---|---|"]
        lines += [f"| {r['recipe']} {r['task']} | {r['metric']} | {fmt(r['value'], 3)} |" for r in long_rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"device {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}, torch {torch.__version__}")
    if args.microbench:
        microbench(out)
    recipes = args.recipes.split(",")
    if len(recipes) > 1 and not args.in_process:
        for recipe in recipes:     # one process per recipe; a crash loses that recipe only
            child = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--microbench"]
            subprocess.run([sys.executable, __file__, *child, "--recipes", recipe, "--in-process"], check=False)
            write_table(out)
    else:
        for recipe in recipes:
            run_and_record(args, recipe, out)
    print(write_table(out))
    return 0


def run_and_record(args, recipe: str, out: pathlib.Path) -> None:
    try:
        rows = bench_recipe(args, recipe, out)
    except Exception as err:  # noqa: BLE001 - one recipe's failure is recorded, the run goes on
        traceback.print_exc()
        rows = [{"recipe": recipe, "task": "speed", "metric": "failed", "value": None,
                 "params": {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"}}]
    with (out / "results.jsonl").open("a") as sink:
        for r in rows:
            sink.write(json.dumps(r, default=str) + "\n")


def write_table(out: pathlib.Path) -> str:
    path = out / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    table = summary_table(rows)
    (out / "table.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    sys.exit(main())
