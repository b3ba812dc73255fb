"""``run_diagnosis``: probes for each recipe of a spec against BF16, findings, heatmaps and the report section.

Everything lands in ``<out>/diagnosis/``: kv_ranges.csv, saturation.csv, activation_outliers.csv,
sensitivity.csv, kv_memory.csv, ablations.csv, findings.jsonl, PNG heatmaps and section.md (which the
report includes verbatim).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
from pathlib import Path

from vlmq.console import Progress, describe_failure
from vlmq.device import release_memory, resolve_device
from vlmq.engine import Engine, KVConfig
from vlmq.errors import VlmqError
from vlmq.models import load_model
from vlmq.pipeline import (
    ablation_deltas,
    ablation_pairs,
    build_engine,
    expand_recipes,
    planned_tasks,
    recipe_calibration,
    task_options,
)
from vlmq.recipes import apply_recipe, kv_switch, parse_recipe, weight_recipe_name, with_kv_switch
from vlmq.spec import RunSpec
from vlmq.store import STORE_NAME, Store

from .findings import (
    kv_findings,
    outlier_findings,
    range_findings,
    remedy_findings,
    sensitivity_findings,
    significant_losses,
)
from .memory import kv_cache_bytes, kv_memory_rows, preset_text_config
from .plots import absmax_heatmap, outlier_heatmap, saturation_heatmap, sensitivity_bars
from .probes import ActivationProbe, KVRangeProbe
from .saturation import KVSaturationProbe, kv_scale_tables
from .section import write_section
from .sensitivity import SensitivityProbe, model_copy, propose_mixed_recipe

DEFAULT_LIMIT = 8  # samples per accuracy task when the spec sets no limit
MAX_LIMIT = 32  # probes need ranges, not accuracy: more samples add time, not information
MAX_NEW_TOKENS = 8  # enough generated tokens to measure their K/V ranges
SENSITIVITY_PROMPTS = 8
REMEDY_SWITCHES = ("kv_fp8_vis", "kv_fp8_head")
KV_MEMORY_PRESET = ("qwen2-vl-2b", 16, 8192)  # the GPU preset the memory claim is stated for


def run_diagnosis(spec: RunSpec, records: list[dict] | None = None, fresh: bool = False) -> Path:
    """Run every probe for ``spec.recipes`` against BF16 on ``spec.model``; return ``<out>/diagnosis``.

    ``records`` are the run's accuracy records (from ``vlmq run --diagnose``); when None they are read
    from ``<out>/results.jsonl`` if present. ``fresh`` removes an earlier diagnosis folder first.
    """
    out = Path(spec.out) / "diagnosis"
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    # observers run on the eager path; 'auto' becomes the recipe names a run would use
    spec = dataclasses.replace(spec, compile=False, recipes=expand_recipes(spec.recipes))
    prompts = diagnosis_prompts(spec)
    tables = measure(spec, prompts)
    tables["records"] = records if records is not None else read_records(Path(spec.out))
    tables["ablations"] = stored_ablations(spec)
    tables["findings"] = all_findings(tables)
    write_tables(out, tables)
    tables["images"] = draw(out, tables)
    write_section(out, spec, tables)
    store_summary(spec, tables)
    return out


def measure(spec: RunSpec, prompts: list) -> dict:
    device = resolve_device(spec.device)
    bf16 = load_model(spec.model, device=str(device), min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    kv_ranges, outliers = range_probes(bf16, prompts)
    skipped: list[dict] = []
    saturation, memory, remedies = saturation_probes(spec, prompts, bf16, skipped)
    spread = prompts[:: max(1, len(prompts) // SENSITIVITY_PROMPTS)][:SENSITIVITY_PROMPTS]  # every task
    sensitivity, proposals = sensitivity_probes(spec, bf16, spread, skipped)
    return {
        "kv_ranges": kv_ranges,
        "activation_outliers": outliers,
        "saturation": saturation,
        "kv_memory": memory,
        "remedies": remedies,
        "sensitivity": sensitivity,
        "proposals": proposals,
        "skipped": skipped,
    }


def isolated(skipped: list[dict], probe: str, recipe: str, measure):
    """Run one recipe's probe; a recipe that cannot run here is listed as skipped, the rest go on."""
    try:
        return measure()
    except Exception as err:  # noqa: BLE001 - fault isolation, as in the runner
        skipped.append({"probe": probe, "recipe": recipe, "reason": describe_failure(err)})
        return None
    finally:
        release_memory()


def diagnosis_prompts(spec: RunSpec) -> list:
    """Prompts of the spec's accuracy tasks (seeded, stratified like the run's own samples)."""
    limit = min(spec.limit or DEFAULT_LIMIT, MAX_LIMIT)
    opts = dataclasses.replace(task_options(spec), limit=limit)
    prompts = []
    for task in (t for t in planned_tasks(spec) if t.headline is not None):
        prompts += [s.prompt for s in task.load(opts) if not s.failed]
    if not prompts:
        raise VlmqError("diagnosis needs prompts from an accuracy task; add e.g. --tasks shapes-vqa")
    return prompts


def observe_generation(engine, prompts, observer) -> None:
    """Prefill and a few greedy steps per prompt, one at a time (no padding in the statistics)."""
    with engine.observe(observer):
        for prompt in prompts:
            engine.generate([prompt], MAX_NEW_TOKENS, ignore_eos=True)


def range_probes(bf16, prompts) -> tuple[list[dict], list[dict]]:
    kv_probe = KVRangeProbe()
    with ActivationProbe(bf16.model) as act_probe:
        observe_generation(Engine(bf16), prompts, kv_probe)
    return kv_probe.rows(), act_probe.rows()


def kv_recipes(spec: RunSpec) -> dict[str, list[str]]:
    """FP8-KV recipes of the spec -> the remedy variants measured next to them (same weights)."""
    out = {}
    for name in spec.recipes:
        switch = kv_switch(name)
        if switch is None or parse_recipe(name).kv.dtype != "fp8":
            continue
        out[name] = [with_kv_switch(name, remedy) for remedy in REMEDY_SWITCHES if remedy != switch]
    return out


def saturation_probes(spec: RunSpec, prompts, bf16, skipped: list[dict]) -> tuple[list[dict], list[dict], dict]:
    remedies = kv_recipes(spec)
    rows, memory = [], []
    for name in dict.fromkeys(n for recipe, variants in remedies.items() for n in (recipe, *variants)):
        measured = isolated(skipped, "saturation", name, lambda name=name: saturation_of(spec, name, prompts, bf16))
        if measured is not None:
            rows += measured[0]
            memory.append(measured[1])
    if remedies:
        memory += preset_memory_rows()
    return rows, memory, remedies


def saturation_of(spec: RunSpec, name: str, prompts, bf16) -> tuple[list[dict], dict]:
    engine = recipe_engine(spec, name, bf16)
    decoder = engine.decoder
    probe = KVSaturationProbe(kv_scale_tables(engine.kv, decoder.num_layers, decoder.num_kv_heads))
    observe_generation(engine, prompts, probe)
    return probe.rows(name), engine_memory_row(spec, name, engine)


def engine_memory_row(spec: RunSpec, name: str, engine) -> dict:
    """Bytes of the engine's allocated cache against a BF16 cache of the same shape."""
    bf16 = kv_cache_bytes(
        engine.model.config.get_text_config(), batch=engine.max_batch_size, context=engine.max_seq_len, kv=KVConfig()
    )
    nbytes = engine.cache.nbytes()
    return {
        "model": spec.model,
        "batch": engine.max_batch_size,
        "context": engine.max_seq_len,
        "kv": name,
        "bytes": nbytes,
        "gib": nbytes / 2**30,
        "ratio_to_bf16": nbytes / bf16,
    }


def preset_memory_rows() -> list[dict]:
    name, batch, context = KV_MEMORY_PRESET
    return kv_memory_rows(preset_text_config(name), model=name, batch=batch, context=context)


def recipe_engine(spec: RunSpec, name: str, bf16):
    """An eager engine for ``name`` on a copy of the BF16 model, KV scales calibrated as in a run."""
    recipe_spec = parse_recipe(name)
    loaded = model_copy(bf16)
    calib = recipe_calibration(spec, recipe_spec) if recipe_spec.recipe.needs_calibration else None
    apply_recipe(loaded, recipe_spec, calib)
    device = next(loaded.model.parameters()).device
    engine, _ = build_engine(loaded, recipe_spec, spec, device, Progress(spec.quiet))
    return engine


def sensitivity_probes(spec: RunSpec, bf16, prompts, skipped: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per-layer KL for each distinct weight recipe of the spec, and the mixed recipe it suggests."""
    weight_recipes = list(dict.fromkeys(w for w in map(weight_recipe_name, spec.recipes) if w))
    if not weight_recipes:
        return [], []
    probe = SensitivityProbe(bf16, prompts, calibration=lambda recipe_spec: recipe_calibration(spec, recipe_spec))
    rows, proposals = [], []
    for recipe in weight_recipes:
        measured = isolated(skipped, "sensitivity", recipe, lambda recipe=recipe: sensitivity_of(probe, recipe))
        if measured is not None:
            rows += measured[0]
            proposals += measured[1]
    return rows, proposals


def sensitivity_of(probe: SensitivityProbe, recipe: str) -> tuple[list[dict], list[dict]]:
    """The recipe's ranking and, where one follows from it, the measured mixed-precision proposal."""
    rows = probe.measure(recipe)
    proposal = propose_mixed_recipe(rows)
    if proposal is None:
        return rows, []
    full = next(r["kl_mean"] for r in rows if r["mode"] == "full")
    return rows, [{**proposal, "kl_full": full, "kl_mixed": probe.kl(proposal["name"])}]


def read_records(out: Path) -> list[dict]:
    path = out / "results.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stored_ablations(spec: RunSpec) -> list[dict]:
    """Paired ablation deltas for the recipe pairs whose samples are already in the run's store."""
    if not (Path(spec.out) / STORE_NAME).is_file():
        return []
    store = Store(spec.out)
    try:
        recipes = store.outcomes().keys() or spec.recipes
        return ablation_deltas(store, spec, [p for p in ablation_pairs(recipes) if p[1] in recipes])
    finally:
        store.close()


def all_findings(tables: dict) -> list[dict]:
    accuracy = [r for r in tables["records"] if r.get("delta") is not None]
    return (
        significant_losses(accuracy, tables["saturation"])
        + range_findings(tables["kv_ranges"])
        + kv_findings(tables["saturation"])
        + remedy_findings(tables["saturation"], tables["remedies"])
        + sensitivity_findings(tables["sensitivity"], tables["proposals"])
        + outlier_findings(tables["activation_outliers"])
    )


CSV_TABLES = {
    "kv_ranges": ("layer", "head", "tensor", "token_type", "absmax", "p99", "p999", "n"),
    "saturation": ("recipe", "layer", "tensor", "token_type", "saturated_frac", "underflow_frac", "sqnr_db", "n"),
    "activation_outliers": (
        "layer",
        "module",
        "channels",
        "absmax",
        "median_channel_absmax",
        "top_ratio",
        "outlier_channels",
        "top_channels",
    ),
    "sensitivity": ("recipe", "mode", "layer", "layer_type", "variant", "kl_mean", "rank"),
    "kv_memory": ("model", "batch", "context", "kv", "bytes", "gib", "ratio_to_bf16"),
    "ablations": (
        "recipe",
        "without",
        "switch",
        "task",
        "metric",
        "delta",
        "ci_low",
        "ci_high",
        "p_value",
        "test",
        "n",
    ),
}


def write_tables(out: Path, tables: dict) -> None:
    for name, columns in CSV_TABLES.items():
        with open(out / f"{name}.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(tables[name])
    with open(out / "findings.jsonl", "w") as fh:
        for finding in tables["findings"]:
            fh.write(json.dumps(finite(finding), sort_keys=True) + "\n")


def finite(value):
    """JSON-safe copy: non-finite floats (an exact round trip's +inf dB) become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def draw(out: Path, tables: dict) -> dict[str, str]:
    """PNG name -> path relative to the run dir, for those with data."""
    paths = {
        "kv_saturation": saturation_heatmap(tables["saturation"], out / "kv_saturation.png"),
        "k_absmax": absmax_heatmap(tables["kv_ranges"], "k", out / "k_absmax.png"),
        "v_absmax": absmax_heatmap(tables["kv_ranges"], "v", out / "v_absmax.png"),
        "sensitivity": sensitivity_bars(tables["sensitivity"], out / "sensitivity.png"),
        "activation_outliers": outlier_heatmap(tables["activation_outliers"], out / "activation_outliers.png"),
    }
    return {k: f"diagnosis/{p.name}" for k, p in paths.items() if p is not None}


def store_summary(spec: RunSpec, tables: dict) -> None:
    """The findings and proposals go into the run's store too (``meta`` key ``diagnosis``)."""
    store = Store(spec.out)
    try:
        store.set_meta(
            "diagnosis",
            finite(
                {
                    "findings": tables["findings"],
                    "proposals": tables["proposals"],
                    "kv_memory": tables["kv_memory"],
                    "skipped": tables["skipped"],
                    "recipes": list(spec.recipes),
                    "model": spec.model,
                }
            ),
        )
    finally:
        store.close()
