"""The pipeline: plan (spec → recipes × tasks), execute (one recipe, fault-isolated), launch (in-process,
subprocess, torchrun), results (store → tidy records, paired deltas)."""

from vlmq.pipeline.execute import build_engine, recipe_calibration
from vlmq.pipeline.launch import RunResult, run
from vlmq.pipeline.plan import AUTO_EXTRA_RECIPES, expand_recipes, ordered_recipes, planned_tasks, task_options
from vlmq.pipeline.results import ablation_deltas, ablation_pairs, collect_records, load_run_spec, write_results

__all__ = [
    "AUTO_EXTRA_RECIPES",
    "RunResult",
    "ablation_deltas",
    "ablation_pairs",
    "build_engine",
    "collect_records",
    "expand_recipes",
    "load_run_spec",
    "ordered_recipes",
    "planned_tasks",
    "recipe_calibration",
    "run",
    "task_options",
    "write_results",
]
