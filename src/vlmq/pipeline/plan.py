"""Plan a run from its spec: the recipes (baseline first, ``auto`` expanded), the tasks and their options.

Everything here validates before any work starts, so a typo costs no GPU time.
"""

from __future__ import annotations

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
    """The options every task reads, from the spec (``task`` picks its entry of ``--limits``)."""
    limit = spec.limit_for(task) if task is not None else spec.limit
    speed = SpeedSettings(
        batch_sizes=spec.speed_batch_sizes,
        image_sizes=spec.speed_image_sizes,
        new_tokens=spec.speed_new_tokens,
        repeats=spec.speed_repeats,
        workload=spec.speed_workload,
        compile=spec.compile,
    )
    return TaskOptions(
        dataset_dir=spec.dataset_dir,
        limit=limit,
        seed=spec.seed,
        jpeg_quality=spec.jpeg_quality,
        scoring=spec.scoring,
        batch_size=spec.batch_size,
        speed=speed,
        prompts=spec.prompts,
        prompt=spec.prompt,
    )
