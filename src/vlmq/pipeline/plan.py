"""Plan a run from its spec: the recipes (baseline first, ``auto`` expanded), the tasks and their options.

Everything here validates before any work starts, so a typo costs no GPU time.
"""

from __future__ import annotations

from dataclasses import fields

from vlmq.recipes import list_recipes, parse_recipe
from vlmq.spec import RunSpec
from vlmq.tasks import SpeedSettings, Task, TaskOptions, get_task

# Recipes that "auto" adds beyond the base recipes: the study's FP8-KV failure and its remedy.
AUTO_EXTRA_RECIPES = ("fp8+kv_fp8_text", "fp8+kv_fp8_vis")


def expand_recipes(names: tuple[str, ...]) -> tuple[str, ...]:
    """Validate recipe names and expand 'auto'; duplicates are dropped, order kept."""
    out: list[str] = []
    for name in names:
        expanded = [r.name for r in list_recipes()] + list(AUTO_EXTRA_RECIPES) if name == "auto" else [name]
        for item in expanded:
            parse_recipe(item)
            if item not in out:
                out.append(item)
    return tuple(out)


def ordered_recipes(spec: RunSpec) -> tuple[str, ...]:
    """The run's recipes with the baseline first, so paired tests can always find it."""
    recipes = expand_recipes(spec.recipes)
    if spec.baseline in recipes:
        recipes = (spec.baseline, *[r for r in recipes if r != spec.baseline])
    return recipes


def planned_tasks(spec: RunSpec) -> list[Task]:
    """The spec's tasks (a VlmqError names the valid choices for an unknown one)."""
    return [get_task(name) for name in spec.tasks]


def task_options(spec: RunSpec, task: str | None = None) -> TaskOptions:
    """The options every task reads, from the spec's fields of the same names (``task`` picks its entry of
    ``--limits``; the speed settings are the spec's ``speed_*`` fields)."""
    limit = spec.limit_for(task) if task is not None else spec.limit
    speed = SpeedSettings(compile=spec.compile, **_spec_values(spec, SpeedSettings, prefix="speed_", skip={"compile"}))
    return TaskOptions(limit=limit, speed=speed, **_spec_values(spec, TaskOptions, skip={"limit", "speed"}))


def _spec_values(spec: RunSpec, options: type, *, prefix: str = "", skip: set[str]) -> dict:
    """The spec's value of each field of the dataclass ``options`` (spec field = ``prefix`` + its name)."""
    return {f.name: getattr(spec, prefix + f.name) for f in fields(options) if f.name not in skip}
