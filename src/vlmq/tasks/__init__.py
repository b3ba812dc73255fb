"""Tasks: accuracy (VQAv2, POPE, MME and their shapes twins), the LLaVA-Bench prompt set, and the
measurement tasks (speed, long-context decode, decode profile).

One registry maps a task name to a `Task` instance; every task follows one protocol (`Task`: load,
run, records). Variants are parameters of the same classes: ``pope/<split>`` and ``mme/<subtask>``
(also ``shapes-pope/<split>``, ``shapes-mme/<subtask>``) are built on demand by `get_task`.
"""

from __future__ import annotations

import dataclasses

from vlmq.errors import VlmqError
from vlmq.tasks.base import Headline, Sample, SpeedSettings, Task, TaskOptions, TaskRun
from vlmq.tasks.failures import failure_summaries
from vlmq.tasks.fidelity import fidelity_records, fidelity_store_task, is_fidelity_store_task
from vlmq.tasks.llava_bench import LlavaBenchTask
from vlmq.tasks.mme import MME_SOURCE, SHAPES_MME_SOURCE, MMETask, mme_subtasks
from vlmq.tasks.pope import POPE_POOLED_SOURCE, POPE_SPLITS, SHAPES_POPE_SOURCE, PopeTask, pope_split_source
from vlmq.tasks.prompt_set import FidelityTask
from vlmq.tasks.sampled import DatasetTask, SampleTask
from vlmq.tasks.speed import LongContextTask, ProfileTask, SpeedTask
from vlmq.tasks.vqav2 import SHAPES_VQA_SOURCE, VQAV2_SOURCE, VQATask

__all__ = [
    "DatasetTask",
    "FidelityTask",
    "Headline",
    "Sample",
    "SampleTask",
    "SpeedSettings",
    "Task",
    "TaskOptions",
    "TaskRun",
    "failure_summaries",
    "fidelity_records",
    "fidelity_store_task",
    "get_task",
    "is_fidelity_store_task",
    "list_tasks",
    "register_task",
]

_REGISTRY: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` under ``task.name`` (a second task with the same name is a programming error)."""
    if task.name in _REGISTRY:
        raise VlmqError(f"task {task.name!r} is registered twice; give the new task another name")
    _REGISTRY[task.name] = task
    return task


def _register_builtin() -> None:
    register_task(VQATask("vqav2", VQAV2_SOURCE))
    register_task(PopeTask("pope", POPE_POOLED_SOURCE))
    for split in POPE_SPLITS:
        register_task(PopeTask(f"pope/{split}", pope_split_source(split), split, POPE_POOLED_SOURCE))
    register_task(MMETask("mme", MME_SOURCE))
    register_task(LlavaBenchTask())
    register_task(VQATask("shapes-vqa", SHAPES_VQA_SOURCE))
    register_task(PopeTask("shapes-pope", SHAPES_POPE_SOURCE))
    # One split of the generated pooled set: n counts that split's rows alone.
    one_split = dataclasses.replace(SHAPES_POPE_SOURCE, rows_per_n=1)
    for split in POPE_SPLITS:
        register_task(PopeTask(f"shapes-pope/{split}", one_split, split))
    register_task(MMETask("shapes-mme", SHAPES_MME_SOURCE))
    for task in (SpeedTask(), LongContextTask(), ProfileTask()):
        register_task(task)
    register_task(FidelityTask())


_register_builtin()


def list_tasks() -> list[Task]:
    """Every registered task (MME's per-subtask variants are not listed; `get_task` builds them)."""
    return list(_REGISTRY.values())


def get_task(name: str) -> Task:
    """The task called ``name``; VlmqError naming the valid choices otherwise."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    base, _, variant = name.partition("/")
    if base in ("mme", "shapes-mme") and variant:
        if variant not in mme_subtasks():
            raise VlmqError(
                f"unknown MME subtask {variant!r} in task {name!r}; choose from: {', '.join(mme_subtasks())}"
            )
        source = MME_SOURCE if base == "mme" else SHAPES_MME_SOURCE
        return MMETask(name, source, subtask=variant)
    if base in ("pope", "shapes-pope") and variant:
        raise VlmqError(f"unknown POPE split {variant!r} in task {name!r}; choose from: {', '.join(POPE_SPLITS)}")
    raise VlmqError(f"unknown task {name!r}; choose from: {', '.join(_REGISTRY)} (or mme/<subtask>)")
