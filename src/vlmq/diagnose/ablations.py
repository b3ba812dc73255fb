"""Ablations driven by the spec: each recipe with switches is compared against itself minus one
switch (``fp8+kv_fp8+fp8_attention`` vs ``fp8+kv_fp8`` and vs ``fp8+fp8_attention``), on the same
samples, with each task's own paired test (delta, 95% CI, p-value).
"""

from __future__ import annotations

import dataclasses

from vlmq.spec import RunSpec


def ablation_pairs(recipes) -> list[tuple[str, str, str]]:
    """(recipe, recipe without one switch, the switch) for every switch of every recipe."""
    pairs = []
    for name in recipes:
        base, *switches = name.split("+")
        for switch in switches:
            rest = [s for s in switches if s != switch]
            pairs.append((name, "+".join([base, *rest]), switch))
    return pairs


def ablation_recipes(recipes, baseline: str) -> tuple[str, ...]:
    """The recipes a spec's ablations need: its own, each one-switch-less variant, and the baseline."""
    out = [baseline, *recipes]
    out += [without for _, without, _ in ablation_pairs(recipes)]
    return tuple(dict.fromkeys(out))


def ablation_deltas(store, spec: RunSpec, pairs) -> list[dict]:
    """Paired deltas (with - without) per task and metric, from the samples stored for both recipes."""
    from vlmq.runner import task_options, validate_tasks

    opts = task_options(spec)
    rows = []
    for task in (t for t in validate_tasks(spec.tasks) if t.kind == "accuracy"):
        for with_, without, switch in pairs:
            base_rows, rows_with = store.samples(without, task.name), store.samples(with_, task.name)
            if not base_rows or not rows_with:
                continue
            for comp in task.compare(base_rows, rows_with, opts):
                rows.append({"recipe": with_, "without": without, "switch": switch, "task": comp["task"],
                             "metric": comp["metric"], "delta": comp["delta"], "ci_low": comp["ci_low"],
                             "ci_high": comp["ci_high"], "p_value": comp["p_value"], "test": comp["test"],
                             "n": comp["n"]})
    return rows


def run_ablations(spec: RunSpec, *, fresh: bool = False) -> list[dict]:
    """Run the spec's recipes plus their one-switch-less variants (resumable, like any run) and
    return the ablation deltas."""
    from vlmq.runner import run
    from vlmq.store import Store

    recipes = ablation_recipes(spec.recipes, spec.baseline)
    full = dataclasses.replace(spec, recipes=recipes)
    run(full, fresh=fresh)
    store = Store(spec.out)
    try:
        return ablation_deltas(store, full, ablation_pairs(spec.recipes))
    finally:
        store.close()
