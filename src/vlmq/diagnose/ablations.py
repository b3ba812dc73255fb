"""Ablations driven by the spec: each recipe with switches is compared against itself minus one
switch (``fp8+kv_fp8+fp8_attention`` vs ``fp8+kv_fp8`` and vs ``fp8+fp8_attention``), on the same
samples, with each task's own paired test (delta, 95% CI, p-value).
"""

from __future__ import annotations

import dataclasses

from vlmq.pipeline import ablation_deltas, ablation_pairs, run
from vlmq.spec import RunSpec
from vlmq.store import Store


def ablation_recipes(recipes, baseline: str) -> tuple[str, ...]:
    """The recipes a spec's ablations need: its own, each one-switch-less variant, and the baseline."""
    out = [baseline, *recipes]
    out += [without for _, without, _ in ablation_pairs(recipes)]
    return tuple(dict.fromkeys(out))


def run_ablations(spec: RunSpec, *, fresh: bool = False) -> list[dict]:
    """Run the spec's recipes plus their one-switch-less variants (resumable, like any run) and
    return the ablation deltas."""
    recipes = ablation_recipes(spec.recipes, spec.baseline)
    full = dataclasses.replace(spec, recipes=recipes)
    run(full, fresh=fresh)
    store = Store(spec.out)
    try:
        return ablation_deltas(store, full, ablation_pairs(spec.recipes))
    finally:
        store.close()
