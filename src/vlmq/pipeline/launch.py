"""Where recipes run: in this process, one subprocess per recipe, or across torchrun ranks; and ``run``,
the pipeline over every recipe of a spec.

Before anything is written, ``preflight`` validates what can be validated (output folder, recipes,
tasks, device, model, datasets). The main process then holds the run folder's lock for the whole run,
sets an earlier run aside on ``--fresh`` (restored if the new run stores nothing), checks the run's
identity (spec, model fingerprint, vlmq version) and every stored sample's prompt hash, runs the
recipes, and writes ``results.jsonl``/``results.csv``; a ``finish`` callback (the diagnosis and the
report, from ``vlmq.workflow``) runs while the lock is still held.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import vlmq
from vlmq.console import Progress, quiet_libraries
from vlmq.device import resolve_device
from vlmq.errors import BadModel, VlmqError
from vlmq.models import model_fingerprint
from vlmq.provenance import provenance
from vlmq.rundir import RunLock, check_run_folder, set_aside_previous_run, settle_previous_run
from vlmq.spec import RunSpec
from vlmq.store import STORE_NAME, Store, prompt_hash, rank_store_path
from vlmq.tasks import failure_summaries, fidelity_store_task, is_fidelity_store_task

from .distributed import barrier, batch_shard, current_world, init, merge_rank_stores, recipe_shard, shutdown
from .execute import SampleCache, baseline_references, run_one_recipe_isolated
from .plan import ordered_recipes, planned_tasks
from .results import write_results


@dataclass
class RunResult:
    outcomes: dict[str, dict[str, Any]]
    records: list[dict[str, Any]] = field(default_factory=list)
    is_main: bool = True  # False on torchrun ranks > 0: rank 0 reports for the whole run
    note: str | None = None  # what happened to an earlier run set aside by --fresh, if anything
    failures: list = field(default_factory=list)  # FailureSummary per (recipe, task) with failed samples

    @property
    def any_ok(self) -> bool:
        return any(o["status"] == "ok" for o in self.outcomes.values())


def preflight(spec: RunSpec, fresh: bool, samples: SampleCache) -> dict[str, Any]:
    """Validate the whole spec before the store is touched; returns the run's identity.

    One-line errors for a bad output folder, recipe, task, device, model path or dataset. Loads every
    task's samples into ``samples`` (they are reused by the run).
    """
    check_run_folder(spec.out, fresh=fresh)
    ordered_recipes(spec)
    tasks = planned_tasks(spec)
    resolve_device(spec.device)
    try:
        fingerprint = model_fingerprint(spec.model)
    except VlmqError as err:
        raise BadModel(str(err)) from err
    for task in tasks:
        samples.all(task)
    return {**spec.identity(), "model_fingerprint": fingerprint, "vlmq_version": vlmq.__version__}


def _subprocess_worker(spec_dict: dict, recipe: str, debug: bool = False) -> None:
    if not debug:
        quiet_libraries()
    spec = RunSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec_dict.items()})
    store = Store(spec.out)
    try:
        run_one_recipe_isolated(spec, recipe, store, Progress(spec.quiet), SampleCache(spec), debug=debug)
    finally:
        store.close()


def run_in_subprocess(spec: RunSpec, recipe: str, store: Store, progress: Progress, debug: bool = False) -> None:
    """One process per recipe: clean VRAM figures, and a hard crash (segfault, OOM kill) loses one recipe."""
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_subprocess_worker, args=(spec.to_dict(), recipe, debug))
    proc.start()
    proc.join()
    if proc.exitcode != 0 and store.outcomes().get(recipe, {}).get("status") != "ok":
        reason = f"worker process exited with code {proc.exitcode}"
        if proc.exitcode is not None and proc.exitcode < 0:
            reason += " (killed by a signal: out of memory or a crash in native code)"
        store.set_outcome(recipe, "failed", reason=reason)
        progress.note(f"[{recipe}] failed: {reason}")


def prepare_main_store(spec: RunSpec, identity: dict, samples: SampleCache, progress: Progress) -> None:
    """Main process: bind (or check) the run identity, fold in rank files a killed run left, drop stored
    samples whose prompt changed since (they are redone), record provenance."""
    store = Store(spec.out)
    try:
        resumed = store.bind_spec(identity)
        merge_rank_stores(store)
        for task in planned_tasks(spec):
            hashes = {s.id: prompt_hash(s.prompt.text, s.prompt.image) for s in samples.all(task)}
            for key in (task.name, fidelity_store_task(task.name)) if hashes else ():
                stale = store.stale_samples(key, hashes)
                if stale:
                    n = store.drop_samples(key, stale)
                    progress.note(f"{key}: {n} stored answers were to prompts that changed since; redoing them")
        store.set_meta("provenance", provenance(resolve_device(spec.device)))
        store.set_meta("spec_full", spec.to_dict())
        if resumed:
            progress.note(f"resuming {spec.out}: {store.count_samples()} samples already stored")
    finally:
        store.close()


def open_worker_store(spec: RunSpec, world) -> Store:
    """The store this process writes: the run's own file, or its rank file under torchrun."""
    if not world.distributed:
        return Store(spec.out)
    store = Store(spec.out, path=rank_store_path(spec.out, world.rank))
    store.read_also(Path(spec.out) / STORE_NAME)
    return store


def run_recipes(spec: RunSpec, recipes: tuple[str, ...], world, samples: SampleCache, debug: bool) -> None:
    """This process's share of the recipes, each isolated (in-process or in its own subprocess)."""
    mine = recipes if spec.parallel == "data" else recipe_shard(recipes, world)
    store, progress = open_worker_store(spec, world), Progress(spec.quiet or not world.is_main)
    try:
        if world.distributed and spec.baseline in recipes and spec.baseline not in mine:
            baseline_references(spec, store, progress, samples, world)
        for recipe in mine:
            if spec.launcher == "subprocess" and not world.distributed:
                run_in_subprocess(spec, recipe, store, progress, debug)
            else:
                run_one_recipe_isolated(spec, recipe, store, progress, samples, world=world, debug=debug)
    finally:
        store.close()


def run(
    spec: RunSpec, *, fresh: bool = False, debug: bool = False, finish: Callable[[list[dict]], None] | None = None
) -> RunResult:
    """The pipeline over every recipe of ``spec``; under torchrun each rank runs its share (see distributed).

    The main process returns the outcomes and the records it wrote to results.jsonl, after calling
    ``finish(records)`` under the run folder's lock.
    """
    world = current_world()
    shard = (lambda items: batch_shard(items, world, spec.batch_size)) if spec.parallel == "data" else None
    samples = SampleCache(spec, shard)
    identity = preflight(spec, fresh, samples)
    init(world, spec.device)
    lock = RunLock(spec.out).acquire() if world.is_main else None
    try:
        result = _run_locked(spec, identity, world, samples, fresh, debug, finish)
    finally:
        if lock is not None:
            lock.release()
        shutdown(world)
    return result


def _run_locked(spec, identity, world, samples, fresh, debug, finish) -> RunResult:
    progress = Progress(spec.quiet or not world.is_main)
    if world.is_main:
        note = settle_previous_run(spec.out)
        if note:
            progress.note(note)
        if fresh and set_aside_previous_run(spec.out) is not None:
            progress.note(f"--fresh: the previous run in {spec.out} is set aside until this one stores a result")
        try:
            prepare_main_store(spec, identity, samples, progress)
        except BaseException:
            settle_previous_run(spec.out)
            raise
    barrier(world)
    try:
        run_recipes(spec, ordered_recipes(spec), world, samples, debug)
        barrier(world)
    finally:
        note = settle_previous_run(spec.out) if world.is_main else None
    if not world.is_main:
        return RunResult(outcomes={}, is_main=False)
    main = Store(spec.out)
    try:
        merge_rank_stores(main)
        records = write_results(main, spec)
        outcomes = main.outcomes()
        failures = failure_summaries([r for r in main.samples() if not is_fidelity_store_task(r["task"])])
    finally:
        main.close()
    if finish is not None:
        finish(records)
    return RunResult(outcomes=outcomes, records=records, note=note, failures=failures)
