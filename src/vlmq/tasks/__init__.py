"""Accuracy tasks (VQAv2, POPE, MME and their shapes twins) and the LLaVA-Bench workload.

One registry maps a task name to a `Task` instance. Variants are parameters of the same classes:
``pope/<split>`` and ``mme/<subtask>`` (also ``shapes-pope/<split>``, ``shapes-mme/<subtask>``)
are built on demand by `get_task`. The speed task (``vlmq.tasks.speed``, engine-owned) joins the
registry through `register_task`.
"""

from __future__ import annotations

import dataclasses

from vlmq.errors import VlmqError
from vlmq.tasks.base import Sample, Task, TaskOptions
from vlmq.tasks.fidelity import FidelityTask
from vlmq.tasks.llava_bench import LlavaBenchTask
from vlmq.tasks.mme import MME_SOURCE, SHAPES_MME_SOURCE, MMETask, mme_subtasks
from vlmq.tasks.pope import POPE_POOLED_SOURCE, POPE_SPLITS, SHAPES_POPE_SOURCE, PopeTask, pope_split_source
from vlmq.tasks.vqav2 import SHAPES_VQA_SOURCE, VQAV2_SOURCE, VQATask

__all__ = ["Sample", "Task", "TaskOptions", "get_task", "list_tasks", "register_task"]

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
    register_task(FidelityTask())


_register_builtin()


def _register_speed_task() -> None:
    """Import the engine-owned ``vlmq.tasks.speed`` if present; it registers itself via `register_task`."""
    import importlib.util

    if importlib.util.find_spec("vlmq.tasks.speed") is not None:
        importlib.import_module("vlmq.tasks.speed")


def list_tasks() -> list[Task]:
    """Every registered task (MME's per-subtask variants are not listed; `get_task` builds them)."""
    _register_speed_task()
    return list(_REGISTRY.values())


def get_task(name: str) -> Task:
    """The task called ``name``; VlmqError naming the valid choices otherwise."""
    _register_speed_task()
    if name in _REGISTRY:
        return _REGISTRY[name]
    base, _, variant = name.partition("/")
    if base in ("mme", "shapes-mme") and variant:
        if variant not in mme_subtasks():
            raise VlmqError(f"unknown MME subtask {variant!r} in task {name!r}; choose from: "
                            f"{', '.join(mme_subtasks())}")
        source = MME_SOURCE if base == "mme" else SHAPES_MME_SOURCE
        return MMETask(name, source, subtask=variant)
    if base in ("pope", "shapes-pope") and variant:
        raise VlmqError(f"unknown POPE split {variant!r} in task {name!r}; choose from: {', '.join(POPE_SPLITS)}")
    raise VlmqError(f"unknown task {name!r}; choose from: {', '.join(_REGISTRY)} "
                    "(or mme/<subtask>)")
