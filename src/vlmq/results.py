"""From the store to tidy records: `results.jsonl`, `results.csv`, `provenance.json`, then the report.

One record per (recipe, task, metric): value, 95% CI, n, kernel (real | emulated), device, the scoring
mode and test, and — for every recipe but the baseline — the paired test against the baseline on
the same samples (delta, its CI and p-value).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from vlmq.spec import RunSpec
from vlmq.store import Store

CSV_COLUMNS = ("recipe", "task", "metric", "value", "ci_low", "ci_high", "n", "kernel", "device", "test", "mode",
               "delta", "delta_ci_low", "delta_ci_high", "p_value", "paired_test", "model", "seed")


def accuracy_records(store: Store, spec: RunSpec, recipes: list[str]) -> list[dict[str, Any]]:
    from vlmq.runner import task_options, validate_tasks

    opts = task_options(spec)
    tasks = [t for t in validate_tasks(spec.tasks) if t.kind == "accuracy"]
    records = []
    for task in tasks:
        base_rows = store.samples(spec.baseline, task.name)
        for recipe in recipes:
            rows = store.samples(recipe, task.name)
            if not rows:
                continue
            metrics = task.aggregate(rows, opts)
            if recipe != spec.baseline and base_rows:
                paired = {(c["task"], c["metric"]): c for c in task.compare(base_rows, rows, opts)}
                for rec in metrics:
                    comp = paired.get((rec["task"], rec["metric"]))
                    if comp is not None:
                        rec.update(delta=comp["delta"], delta_ci_low=comp["ci_low"], delta_ci_high=comp["ci_high"],
                                   p_value=comp["p_value"], paired_test=comp["test"], paired_n=comp["n"])
            records += [{"recipe": recipe, **rec} for rec in metrics]
    return records


def collect_records(store: Store, spec: RunSpec) -> list[dict[str, Any]]:
    """Every aggregated figure of the run, labelled with kernel, device and provenance."""
    meta = store.get_meta("provenance") or {}
    outcomes = store.outcomes()
    recipes = [r for r in _recipe_order(spec, outcomes)]
    records = accuracy_records(store, spec, recipes)
    # fidelity to the baseline (#18): KL, top-1 agreement, flips per task and pooled
    from vlmq.runner import task_options, validate_tasks
    from vlmq.tasks.fidelity import fidelity_records
    records += fidelity_records(store, validate_tasks(spec.tasks), recipes, spec.baseline, task_options(spec))
    for recipe in recipes:
        records += store.measurements(recipe)
    for rec in records:
        outcome = outcomes.get(rec["recipe"], {})
        rec.setdefault("kernel", outcome.get("kernel") or "unknown")
        rec.setdefault("device", meta.get("device"))
        rec.update(model=spec.model, seed=spec.seed, vlmq_version=meta.get("vlmq"), git_commit=meta.get("git_commit"))
    return records


def _recipe_order(spec: RunSpec, outcomes: dict) -> list[str]:
    from vlmq.runner import ordered_recipes

    try:
        order = list(ordered_recipes(spec))
    except Exception:  # noqa: BLE001 - a report must render even if the registry changed since
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


def export_run(store: Store, spec: RunSpec) -> list[dict[str, Any]]:
    """Write results.jsonl, results.csv and report.md into the run directory; return the records."""
    from vlmq.report import write_report

    records = collect_records(store, spec)
    write_jsonl(store.run_dir / "results.jsonl", records)
    write_csv(store.run_dir / "results.csv", records)
    write_report(store, spec, records)
    return records


def load_run_spec(run_dir: str | Path) -> RunSpec:
    """The spec a run directory was produced with (for `vlmq report RUN_DIR`)."""
    from vlmq.errors import VlmqError
    from vlmq.spec import spec_from_mapping

    path = Path(run_dir)
    if not (path / "vlmq.sqlite").is_file():
        raise VlmqError(f"'{run_dir}' is not a vlmq run directory (no vlmq.sqlite); pass the --out of a `vlmq run`")
    store = Store(path)
    try:
        identity = store.get_meta("spec_full") or store.get_meta("spec")
    finally:
        store.close()
    if identity is None:
        raise VlmqError(f"'{run_dir}' has no stored spec; rerun `vlmq run --out {run_dir}`")
    return spec_from_mapping({**identity, "out": str(path)}, source=f"{run_dir}/vlmq.sqlite")
