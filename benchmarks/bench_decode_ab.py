"""A/B of a decode-step launch setting in one process: one engine per (recipe, batch size), its decode step captured
again under each value of the setting and timed in rounds (A B C A B C ...), so drift between values cancels.

    PYTHONPATH=src python benchmarks/bench_decode_ab.py --out OUT --model qwen2-vl-2b --recipes bf16,int4_wo \\
        --batch-sizes 1,16 --variants 'measured;late;qkv;o' [--env VLMQ_PDL_TRIGGER] [--rounds 3] [--new-tokens 64]

Each variant is a value of the environment variable ``--env`` (default ``VLMQ_PDL_TRIGGER``), set before the decode
step is captured again (``CompiledRunner.drop_decode_graphs``): a setting the kernels read as they launch, as the PDL
trigger is; with ``--rebuild`` the decode runner is built again for each value, for a setting read when it is built
(``VLMQ_ATTENTION_COMBINE``; compiled code is reused from the first build of each value). Each row names the decode
path that ran (the runner's label), so a value that did not take effect shows. The workload is ``bench_speed.py``'s (one
synthetic 448x448 image a row, the same prompt, ``--new-tokens`` tokens, EOS ignored; an engine per batch size sized
as its speed task sizes it), so the figures compare with its decode ms/token. ``--ttft`` also times each variant's
first token, for a setting of the prefill (``VLMQ_PREFILL_PREPARE``, with ``--rebuild``). Writes OUT/ab.json (every
round) and OUT/ab.md: ms/token (and TTFT ms) per (recipe, batch, variant), median over the rounds, min-max, and the
ratio to the first variant. Speed is only reported from the compiled engine on CUDA; on a CPU the same loop runs
through the eager engine to check the script, and its table says "not measured (cpu: eager engine)".

``--env recipe`` compares recipes instead of a setting: the variants name recipes (``--variants 'int4_wo;int4_awq'``),
one engine each at a batch size, all resident, timed in the same interleaved rounds -- so a ratio between recipes is
free of the drift a table's one-recipe-after-another order carries (a "4-bit faster than 8-bit" bar can hinge on
0.5 %).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import statistics
import sys
import time

from vlmq.bench import speed as bench
from vlmq.device import device_label, release_memory, resolve_device
from vlmq.engine import Engine
from vlmq.engine.kernels.attention import ATTENTION_PLAN_ENV, attention_plan_setting
from vlmq.engine.kernels.attention_o import ATTENTION_COMBINE_ENV, attention_combine
from vlmq.engine.kernels.fused import ROW_MAX_ENV, row_max_setting
from vlmq.engine.kernels.gemv import (
    FRAG_ROWS_ENV,
    MMA_ENV,
    NORM_DEFER_ENV,
    NORM_FIRST_ENV,
    PREFETCH_ENV,
    TILES_ENV,
    UNMASKED_ENV,
    frag_rows_setting,
    mma_setting,
    norm_defer_setting,
    norm_first_setting,
    prefetch_setting,
    tile_table,
    unmasked_setting,
)
from vlmq.engine.kernels.greedy import GREEDY_ADVANCE_ENV, greedy_advance_mode
from vlmq.engine.kernels.pdl import PDL_OFF_ENV, PDL_TRIGGER_ENV, pdl_off, pdl_trigger
from vlmq.engine.kernels.prefill import PREPARE_ENV, prefill_prepare_mode
from vlmq.errors import VlmqError
from vlmq.models import load_model
from vlmq.provenance import provenance
from vlmq.recipes import apply_recipe, engine_options, load_calibration, parse_recipe, prepare_engine


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="qwen2-vl-2b")
    p.add_argument("--recipes", default="bf16")
    p.add_argument("--batch-sizes", default="1,16")
    p.add_argument("--variants", required=True, help="values of --env, separated by ';' (the first is the reference)")
    p.add_argument(
        "--env",
        default="VLMQ_PDL_TRIGGER",
        help="the environment variable the variants set, or 'recipe': the variants are recipes, an engine each",
    )
    p.add_argument("--rounds", type=int, default=3, help="timed passes over every variant, interleaved")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="build the engine's decode runner again for every value (a setting read when the runner is built, "
        "such as VLMQ_ATTENTION_COMBINE), not only its captured step",
    )
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument(
        "--ttft",
        action="store_true",
        help="also time each variant's first token (replayed; one more warm generation a variant), for a setting of "
        "the prefill such as VLMQ_PREFILL_PREPARE (with --rebuild: it is read when the runner is built)",
    )
    p.add_argument("--device", default="auto")
    return p.parse_args(argv)


def variants_of(text: str) -> list[str]:
    """The ';'-separated values, stripped, unique, in order (a value may itself hold commas)."""
    values = list(dict.fromkeys(v.strip() for v in text.split(";") if v.strip()))
    if len(values) < 2:
        raise VlmqError(f"--variants {text!r}: give at least two values separated by ';', e.g. 'late;qkv'")
    return values


# The readers of the settings an A/B varies, each raising its one-line error on a bad value: every variant is read
# before any model loads, so a bad one stops the run at once rather than after the variants before it were timed (the
# thirty-third session lost a 2b A/B to a fourth variant's warps=16). Other variables are passed through unchecked.
SETTING_READERS = {
    ATTENTION_PLAN_ENV: attention_plan_setting,
    ATTENTION_COMBINE_ENV: attention_combine,
    PDL_TRIGGER_ENV: lambda: pdl_trigger("attention"),
    PDL_OFF_ENV: lambda: pdl_off("attention"),
    NORM_FIRST_ENV: lambda: norm_first_setting("qkv"),
    NORM_DEFER_ENV: lambda: norm_defer_setting("qkv"),
    FRAG_ROWS_ENV: frag_rows_setting,
    PREFETCH_ENV: prefetch_setting,
    UNMASKED_ENV: unmasked_setting,
    MMA_ENV: mma_setting,
    GREEDY_ADVANCE_ENV: greedy_advance_mode,
    PREPARE_ENV: prefill_prepare_mode,
    TILES_ENV: tile_table,  # a table file that does not read or parse
    ROW_MAX_ENV: row_max_setting,  # read as the runner is built: with --rebuild
}


@contextlib.contextmanager
def env_restored(name: str):
    """Inside, the environment variable ``name`` may be set at will; after, it is as before (unset if it was)."""
    before = os.environ.get(name)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


RECIPE_VARIANTS = "recipe"  # --env recipe: the variants are recipes, an engine each, timed interleaved


def check_variants(env: str, variants: list[str]) -> None:
    """Each variant read by ``env``'s reader (``SETTING_READERS``; recipes by ``parse_recipe``), the variable restored
    after: its error, if any."""
    if env == RECIPE_VARIANTS:
        for variant in variants:
            parse_recipe(variant)
        return
    reader = SETTING_READERS.get(env)
    if reader is None:
        return
    with env_restored(env):
        for variant in variants:
            os.environ[env] = variant
            reader()


def schedule(variants: list[str], rounds: int) -> list[tuple[int, str]]:
    """(round, variant) in the order they run: every variant once a round, rounds one after the other."""
    return [(r, v) for r in range(rounds) for v in variants]


def summarize(times: dict[str, list[float]], reference: str, key: str = "ms_per_token") -> dict[str, dict]:
    """Per variant: median (as ``key``), min and max over the rounds, and the median's ratio to ``reference``'s."""
    out = {}
    for variant, values in times.items():
        median = statistics.median(values)
        out[variant] = {key: median, "min": min(values), "max": max(values), "n": len(values)}
    for row in out.values():
        row["x_reference"] = row[key] / out[reference][key]
    return out


def markdown(results: list[dict], env: str, measured: bool, device: str) -> str:
    lines = [
        f"{env} A/B, decode ms/token (median over rounds, min-max; x the first variant), {device}"
        + ("" if measured else ": not measured (cpu: eager engine; the loop was checked, no figure is a speed)"),
        "",
        "| recipe | batch | variant | ms/token | min-max | x first | decode path |",
        "|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for variant, row in res["summary"].items():
            path = res["decode_paths"][variant]
            lines.append(
                f"| {res['recipe']} | {res['batch']} | {variant} | {cells(row, 'ms_per_token', measured)} | {path} |"
            )
    if any("ttft" in res for res in results):
        lines += [
            "",
            f"{env} A/B, time to first token ms (vision + prefill, both replayed from their graphs; median over "
            "rounds, min-max; x the first variant)",
            "",
            "| recipe | batch | variant | TTFT ms | min-max | x first | prefill GEMMs |",
            "|---|---|---|---|---|---|---|",
        ]
        for res in results:
            for variant, row in res.get("ttft", {}).items():
                note = res["prefill_notes"][variant]
                lines.append(
                    f"| {res['recipe']} | {res['batch']} | {variant} | {cells(row, 'ttft_ms', measured)} | {note} |"
                )
    return "\n".join(lines) + "\n"


def cells(row: dict, key: str, measured: bool) -> str:
    """A summary row's figure, spread and ratio as table cells (none off the compiled CUDA engine)."""
    if not measured:
        return "not measured | - | -"
    return f"{row[key]:.3f} | {row['min']:.3f}-{row['max']:.3f} | {row['x_reference']:.3f}"


def time_variants(engine, prompts, variants, args, measured: bool) -> tuple[dict, dict, dict, dict]:
    """ms/token of each variant in each round: the setting applied, the decode step captured again (``--rebuild``:
    the runner built again; on a CPU the fused runner, uncompiled), then ``timed_rounds``' generations. Returns
    (ms/token, TTFT ms, each variant's decode path -- the runner's label: what ran --, its prefill GEMMs' note)."""
    from vlmq.engine.compiled import CompiledRunner, FusedRunner

    with env_restored(args.env):

        def apply(variant: str):
            os.environ[args.env] = variant
            if args.rebuild:
                engine.compiled = None  # the old runner's graphs and packs go before the new ones are built
                release_memory()
                engine.compiled = CompiledRunner(engine) if measured else FusedRunner(engine, compile=False)
            elif engine.compiled is not None and hasattr(engine.compiled, "drop_decode_graphs"):
                engine.compiled.drop_decode_graphs()
            return engine

        return timed_rounds(variants, args, apply, prompts)


def timed_rounds(variants, args, engine_for, prompts) -> tuple[dict, dict, dict, dict]:
    """``--rounds`` passes over the variants, interleaved: each variant's engine (``engine_for(variant)``, which
    applies the variant) makes a short warm generation (one more with ``--ttft``: a prompt geometry's prefill is
    captured on its second sighting, so the timed first token is replayed), then one timed generation of
    ``--new-tokens`` tokens."""
    times: dict[str, list[float]] = {v: [] for v in variants}
    ttft: dict[str, list[float]] = {v: [] for v in variants}
    paths: dict[str, str] = {}
    prefill: dict[str, str] = {}
    for _, variant in schedule(variants, args.rounds):
        engine = engine_for(variant)
        for _ in range(2 if args.ttft else 1):
            engine.generate(prompts, 4, ignore_eos=True)  # captures the step (and the prefill) under this variant
        timings = engine.generate(prompts, args.new_tokens, ignore_eos=True)[0].timings
        times[variant].append(timings["decode_ms_per_token"])
        ttft[variant].append(timings["ttft_ms"])
        paths[variant] = engine.compiled.label if engine.compiled is not None else "eager"
        notes = engine.compiled.path_notes() if engine.compiled is not None else {}
        prefill[variant] = notes.get("prefill_gemm", notes.get("prefill_path", "eager"))
    return times, ttft, paths, prefill


def quantized_model(model: str, recipe: str, device):
    """(the model with ``recipe`` applied, its parsed spec, its calibration set or None)."""
    spec = parse_recipe(recipe)
    loaded = load_model(model, device=str(device))
    calibrates = spec.recipe.needs_calibration or spec.kv_needs_calibration
    calib = load_calibration("builtin", n=8) if calibrates else None
    apply_recipe(loaded, spec, calib)
    return loaded, spec, calib


def workload_engine(loaded, spec, calib, batch: int, opts, measured: bool):
    """(an engine for ``bench_speed.py``'s workload at ``batch`` rows, compiled where ``measured``, its prompts)."""
    prompts = bench.workload_prompts(opts, batch, opts.image_sizes[0])
    engine = Engine(
        loaded,
        **{**engine_options(spec), "compile": measured},
        max_batch_size=batch,
        max_seq_len=bench.workload_lengths(loaded, opts, prompts)[1],
    )
    prepare_engine(engine, spec, calib)
    return engine, prompts


ACROSS_RECIPES = "(across recipes)"  # the recipe column of a --env recipe row: its variants are the recipes


def result_row(recipe: str, batch: int, variants: list[str], timed: tuple, args, measured: bool) -> dict:
    """One (recipe, batch) row of ab.json from ``timed_rounds``' timings: the summary over rounds against the first
    variant, each variant's decode path (and with ``--ttft`` its first token and prefill note); off the compiled CUDA
    engine no timing at all."""
    times, ttft, paths, prefill = timed
    row = {"recipe": recipe, "batch": batch, "summary": summarize(times, variants[0]), "decode_paths": paths}
    if args.ttft:
        row |= {"ttft": summarize(ttft, variants[0], key="ttft_ms"), "prefill_notes": prefill}
    if measured:  # a CPU's timings are no speed figure: kept out of every output
        row["times"] = times
        if args.ttft:
            row["ttft_times"] = ttft
        print(f"{recipe} batch {batch}: " + ", ".join(f"{v} {statistics.median(t):.3f}" for v, t in times.items()))
        return row
    row["summary"] = {v: {"n": len(t), "speed": "not measured (cpu: eager engine)"} for v, t in times.items()}
    if args.ttft:
        row["ttft"] = {v: dict(summary) for v, summary in row["summary"].items()}
    print(f"{recipe} batch {batch}: {args.rounds} rounds of {len(variants)} variants run (cpu: not measured)")
    return row


def main(argv=None) -> int:
    args = parse_args(argv)
    variants = variants_of(args.variants)
    if args.env == RECIPE_VARIANTS and (args.recipes != "bf16" or args.rebuild):
        raise VlmqError("--env recipe: the variants name the recipes ('int4_wo;int4_awq'); drop --recipes / --rebuild")
    check_variants(args.env, variants)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    measured = device.type == "cuda"
    opts = bench.SpeedOptions(new_tokens=args.new_tokens)
    results = []
    report = {
        "model": args.model,
        "env": args.env,
        "variants": variants,
        "rounds": args.rounds,
        "provenance": provenance(device),
    }
    batches = [int(b) for b in args.batch_sizes.split(",")]

    def save(done: str) -> None:  # after each recipe (or batch, across recipes): a cut run loses nothing
        report["results"] = results
        (out / "ab.json").write_text(json.dumps(report, indent=1) + "\n")
        print(done, flush=True)

    if args.env == RECIPE_VARIANTS:  # an engine a recipe at each batch size, all resident, timed interleaved
        for batch in batches:
            start = time.perf_counter()
            engines = {}
            for recipe in variants:
                loaded, spec, calib = quantized_model(args.model, recipe, device)
                engines[recipe] = workload_engine(loaded, spec, calib, batch, opts, measured)
            prompts = next(iter(engines.values()))[1]  # the same workload for every recipe
            engine_of = {recipe: engine for recipe, (engine, _) in engines.items()}
            timed = timed_rounds(variants, args, engine_of.__getitem__, prompts)
            results.append(result_row(ACROSS_RECIPES, batch, variants, timed, args, measured))
            del engines, engine_of, loaded
            release_memory()
            save(f"recipes at batch {batch}: {time.perf_counter() - start:.0f} s")
    else:
        for recipe in (r.strip() for r in args.recipes.split(",") if r.strip()):
            start = time.perf_counter()
            loaded, spec, calib = quantized_model(args.model, recipe, device)
            for batch in batches:
                engine, prompts = workload_engine(loaded, spec, calib, batch, opts, measured)
                timed = time_variants(engine, prompts, variants, args, measured)
                results.append(result_row(recipe, batch, variants, timed, args, measured))
                del engine
                release_memory()
            del loaded
            release_memory()
            save(f"{recipe}: {time.perf_counter() - start:.0f} s")
    text = markdown(results, args.env, measured, device_label(device))
    (out / "ab.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
