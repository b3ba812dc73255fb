"""From the store to tidy records: ``results.jsonl``, ``results.csv``, and paired deltas between recipes.

One record per (recipe, task, metric): value, 95% CI, n, kernel (real | emulated), device, the scoring
mode and test, and — for every recipe but the baseline — the paired test against the baseline on
the same samples (delta, its CI and p-value). Every task makes its own records (``Task.records``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from vlmq.errors import VlmqError
from vlmq.recipes import join_recipe_name, split_recipe_name
from vlmq.spec import RunSpec, spec_from_mapping
from vlmq.store import STORE_NAME, Store
from vlmq.tasks import fidelity_records

from .plan import ordered_recipes, planned_tasks, task_options

CSV_COLUMNS = (
    "recipe",
    "task",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "kernel",
    "device",
    "test",
    "mode",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "p_value",
    "paired_test",
    "model",
    "seed",
)


def collect_records(store: Store, spec: RunSpec) -> list[dict[str, Any]]:
    """Every aggregated figure of the run, labelled with kernel, device and provenance."""
    meta = store.get_meta("provenance") or {}
    outcomes = store.outcomes()
    recipes = _recipe_order(spec, outcomes)
    records = []
    for task in planned_tasks(spec):
        opts = task_options(spec, task.name)
        for recipe in recipes:
            records += task.records(store, recipe, spec.baseline, opts)
    records += fidelity_records(store, planned_tasks(spec), recipes, spec.baseline, task_options(spec))
    for rec in records:
        outcome = outcomes.get(rec["recipe"], {})
        rec.setdefault("kernel", outcome.get("kernel") or "unknown")
        rec.setdefault("device", meta.get("device"))
        rec.update(model=spec.model, seed=spec.seed, vlmq_version=meta.get("vlmq"), git_commit=meta.get("git_commit"))
        rec["source_digest"] = meta.get("source_digest")
        if meta.get("vlmq_env"):  # a run under non-default kernel knobs: every figure carries them
            rec["vlmq_env"] = meta["vlmq_env"]
    return records


def _recipe_order(spec: RunSpec, outcomes: dict) -> list[str]:
    try:
        order = list(ordered_recipes(spec))
    except VlmqError:  # a report must render even if the registry changed since
        order = []
    return order + sorted(r for r in outcomes if r not in order)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "w") as fh:
        for rec in records:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")


def write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


def write_results(store: Store, spec: RunSpec) -> list[dict[str, Any]]:
    """Write results.jsonl and results.csv into the run directory; return the records."""
    records = collect_records(store, spec)
    write_jsonl(store.run_dir / "results.jsonl", records)
    write_csv(store.run_dir / "results.csv", records)
    return records


def load_run_spec(run_dir: str | Path) -> RunSpec:
    """The spec a run directory was produced with (for `vlmq report RUN_DIR`)."""
    path = Path(run_dir)
    if not (path / STORE_NAME).is_file():
        raise VlmqError(f"'{run_dir}' is not a vlmq run directory (no vlmq.sqlite); pass the --out of a `vlmq run`")
    store = Store(path, read_only=True)
    try:
        identity = store.get_meta("spec_full") or store.get_meta("spec")
    finally:
        store.close()
    if identity is None:
        raise VlmqError(f"'{run_dir}' has no stored spec; rerun `vlmq run --out {run_dir}`")
    return spec_from_mapping({**identity, "out": str(path)}, source=f"{run_dir}/vlmq.sqlite")


# ----- ablations: a recipe against itself minus one switch ------------------------------------------------
def ablation_pairs(recipes) -> list[tuple[str, str, str]]:
    """(recipe, recipe without one switch, the switch) for every switch of every recipe."""
    pairs = []
    for name in recipes:
        base, switches = split_recipe_name(name)
        for switch in switches:
            pairs.append((name, join_recipe_name(base, [s for s in switches if s != switch]), switch))
    return pairs


def ablation_deltas(store: Store, spec: RunSpec, pairs) -> list[dict]:
    """Paired deltas (with - without) per task and metric, from the samples stored for both recipes."""
    rows = []
    for task in planned_tasks(spec):
        opts = task_options(spec, task.name)
        for with_, without, switch in pairs:
            for comp in task.paired(store, without, with_, opts):
                rows.append(
                    {
                        "recipe": with_,
                        "without": without,
                        "switch": switch,
                        "task": comp["task"],
                        "metric": comp["metric"],
                        "delta": comp["delta"],
                        "ci_low": comp["ci_low"],
                        "ci_high": comp["ci_high"],
                        "p_value": comp["p_value"],
                        "test": comp["test"],
                        "n": comp["n"],
                    }
                )
    return rows
