"""Where the fused decode attention's time goes inside a decode step, against the same kernel alone: every program's
timestamps (``$VLMQ_ATTENTION_TRACE=1``, ``attention.read_attention_trace``), grouped into launches.

    PYTHONPATH=src python benchmarks/bench_attention_trace.py --out OUT [--model qwen2-vl-2b] [--recipe bf16] \\
        [--batch 1] [--new-tokens 64] [--cold-mb 256]

Why: at a 300-token context the attention adds ~9.4 us a layer to the 2b's step, but takes ~6.4 us a launch in
isolation with its caches read from HBM (bench_attention.py --cold-mb, twenty-third session), and no plan setting
closes the gap (bench_decode_ab.py --env VLMQ_ATTENTION_PLAN). Each traced program records the global ns timer and
its SM's clock at its start, after the PDL wait (the previous kernel, q/k/v, done and flushed), after its attention,
after its arrival at the head's counter and at its end (after the combine, for the head's last program). Per launch
(ns after the launch's first wait return, W):

- ``lead``: how long before W its first program started (what PDL overlaps);
- ``loaded``: W to a program's q loaded and rotated (the first round trip after the wait), median over programs;
- ``blocks``: W to a program's cache blocks attended (the dots and softmax over them; the step's own key after);
- ``attend``: W to a program's attention done, median over programs (q/k/v loads, RoPE, the cache write, the dot
  products over its blocks); ``attend_cycles``: the same in SM clocks, from the program's own counter;
- ``arrive``: W to the last arrival; ``end``: W to the last program's end (the attention done);
- ``period``: W to the next launch's W (in a step: a layer).

Writes OUT/trace.json (every launch's figures, medians) and OUT/trace.md. In the step, the greedy generation runs
twice with the setting (the step captured, then timed) and once without, so the trace's own cost shows as the
ms/token difference. A CUDA GPU only: on a CPU the script says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

PHASES = ("lead", "loaded", "blocks", "attend", "attend_cycles", "arrive", "end", "period")
LAUNCH_GAP_NS = 1000  # consecutive wait returns further apart than this belong to different launches


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="qwen2-vl-2b")
    p.add_argument("--recipe", default="bf16")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--cold-mb", type=float, default=256.0, help="isolated launches cycle caches of this many MB")
    return p.parse_args(argv)


def launches(records: list[dict], gap_ns: int = LAUNCH_GAP_NS) -> list[list[dict]]:
    """The records grouped by launch: sorted by their wait return, a new launch wherever two consecutive returns lie
    more than ``gap_ns`` apart (a launch's programs pass the wait together; launches follow each other by µs)."""
    ordered = sorted(records, key=lambda r: r["t_wait"])
    groups: list[list[dict]] = []
    for rec in ordered:
        if groups and rec["t_wait"] - groups[-1][-1]["t_wait"] <= gap_ns:
            groups[-1].append(rec)
        else:
            groups.append([rec])
    return groups


def launch_phases(group: list[dict], next_wait: int | None) -> dict:
    """One launch's phases in ns after its first wait return (the module doc); ``period`` None for the last."""
    w = min(r["t_wait"] for r in group)
    return {
        "programs": len(group),
        "lead": w - min(r["t_start"] for r in group),
        "loaded": statistics.median(r["t_loaded"] - r["t_wait"] for r in group),
        "blocks": statistics.median(r["t_blocks"] - r["t_wait"] for r in group),
        "attend": statistics.median(r["t_attend"] - r["t_wait"] for r in group),
        "attend_cycles": statistics.median(r["c_attend"] - r["c_wait"] for r in group),
        "arrive": max(r["t_arrive"] for r in group) - w,
        "end": max(r["t_end"] for r in group) - w,
        "period": None if next_wait is None else next_wait - w,
    }


def summarize_trace(records: list[dict], gap_ns: int = LAUNCH_GAP_NS) -> dict:
    """Per phase the median and min-max over launches (``period`` over all but the last), and the launch count;
    the first and last launches are dropped where there are more than four (a ring that wrapped may hold part of
    one)."""
    groups = launches(records, gap_ns)
    if len(groups) > 4:
        groups = groups[1:-1]
    waits = [min(r["t_wait"] for r in g) for g in groups]
    rows = [launch_phases(g, waits[i + 1] if i + 1 < len(groups) else None) for i, g in enumerate(groups)]
    out = {"launches": len(rows), "programs": statistics.median(r["programs"] for r in rows) if rows else 0}
    for phase in PHASES:
        values = [r[phase] for r in rows if r[phase] is not None]
        if values:
            out[phase] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def markdown(results: dict, device: str) -> str:
    cases = [name for name in ("step", "isolated") if name in results]
    lines = [
        f"Fused decode attention, traced on {device}: ns after the launch's first PDL-wait return (median over "
        "launches, min-max); attend_cycles in SM clocks",
        "",
        "| phase | " + " | ".join(cases) + " |",
        "|---|" + "---|" * len(cases),
    ]
    for phase in ("launches", "programs", *PHASES):
        cells = []
        for case in cases:
            value = results[case]["trace"].get(phase)
            if isinstance(value, dict):
                cells.append(f"{value['median']:.0f} ({value['min']:.0f}-{value['max']:.0f})")
            else:
                cells.append("-" if value is None else f"{value:g}")
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    step = results.get("step", {})
    if "ms_per_token" in step:
        lines += [
            "",
            f"Decode ms/token, trace off / on: {step['ms_per_token']['off']:.3f} / {step['ms_per_token']['on']:.3f}",
        ]
    return "\n".join(lines) + "\n"


def traced_step(loaded, spec, calib, args, device) -> dict:
    """The engine's decode step (bench_speed.py's workload) with the trace on: its launches' phases, and ms/token
    with the trace off and on."""
    from bench_decode_ab import workload_engine
    from vlmq.bench import speed as bench
    from vlmq.engine.kernels.attention import ATTENTION_TRACE_ENV, read_attention_trace

    opts = bench.SpeedOptions(new_tokens=args.new_tokens)
    engine, prompts = workload_engine(loaded, spec, calib, args.batch, opts, True)
    ms = {}
    try:
        for value in ("0", "1"):
            os.environ[ATTENTION_TRACE_ENV] = value
            engine.compiled.drop_decode_graphs()
            engine.generate(prompts, 4, ignore_eos=True)  # captures the step under this value
            read_attention_trace(device)  # empties the ring: only the timed generation's launches stay
            timings = engine.generate(prompts, args.new_tokens, ignore_eos=True)[0].timings
            ms["on" if value == "1" else "off"] = timings["decode_ms_per_token"]
    finally:
        os.environ.pop(ATTENTION_TRACE_ENV, None)
    records = read_attention_trace(device)
    return {"ms_per_token": ms, "trace": summarize_trace(records), "records": len(records)}


def traced_isolated(loaded, args, device) -> dict:
    """The fused kernel alone at the step's context (300 slots of a 372-slot cache), launch after launch in one CUDA
    graph over caches of ``--cold-mb`` MB (read from HBM, as in a step): its launches' phases over 4 replays. Under
    ``$VLMQ_ATTENTION_PLAN``'s plan, as the step's launches are."""
    from bench_attention import STEP_CACHE, attention_shape, cache_layers, step_attention_inputs, time_calls
    from vlmq.engine.kernels.attention import attention_plan_setting, launch_decode_attention, read_attention_trace

    shape = attention_shape(loaded)
    layers = cache_layers(args.cold_mb, args.batch, shape[1], STEP_CACHE, shape[2], "bf16")
    caches, q, key_valid, rope = step_attention_inputs(shape, "bf16", args.batch, layers, device)
    plan = attention_plan_setting()

    def run():
        for kv in caches:
            launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, rope=rope, trace=True, **plan)

    run()  # compiles, allocates the ring and the counters outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()
    read_attention_trace(device)
    timing = time_calls(graph.replay, layers, replays=3, warmup=1)
    records = read_attention_trace(device)
    return {
        "us_per_launch": timing["us"],
        "layer_caches": layers,
        "trace": summarize_trace(records),
        "records": len(records),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    from vlmq.device import device_label, resolve_device
    from vlmq.provenance import provenance

    device = resolve_device("auto")
    if device.type != "cuda":
        print("bench_attention_trace.py reads the GPU's timers inside the kernel: it needs a CUDA GPU (none here)")
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from bench_decode_ab import quantized_model

    results = {"model": args.model, "recipe": args.recipe, "batch": args.batch, "provenance": provenance(device)}
    loaded, spec, calib = quantized_model(args.model, args.recipe, device)
    results["isolated"] = traced_isolated(loaded, args, device)
    (out / "trace.json").write_text(json.dumps(results, indent=1) + "\n")
    results["step"] = traced_step(loaded, spec, calib, args, device)
    (out / "trace.json").write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results, device_label(device))
    (out / "trace.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
