"""Where recipes run: in this process, one subprocess per recipe, or across torchrun ranks; and ``run``,
the pipeline over every recipe of a spec.

``run`` produces the store and ``results.jsonl``/``results.csv``; the diagnosis and the report are
written above this layer (``vlmq.workflow``), from the store.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmq.console import Progress, quiet_libraries
from vlmq.device import resolve_device
from vlmq.provenance import provenance
from vlmq.spec import RunSpec
from vlmq.store import STORE_NAME, Store

from .distributed import barrier, batch_shard, current_world, init, merge_rank_stores, rank_store_path, recipe_shard
from .distributed import shutdown
from .execute import SampleCache, run_one_recipe_isolated
from .plan import ordered_recipes, planned_tasks
from .results import write_results


@dataclass
class RunResult:
    outcomes: dict[str, dict[str, Any]]
    records: list[dict[str, Any]] = field(default_factory=list)
    is_main: bool = True   # False on torchrun ranks > 0: rank 0 reports for the whole run

    @property
    def any_ok(self) -> bool:
        return any(o["status"] == "ok" for o in self.outcomes.values())


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


def prepare_main_store(spec: RunSpec, fresh: bool) -> None:
    """Rank 0 (or the only process): bind the spec, fold in rank files a killed run left, record provenance."""
    store = Store(spec.out)
    try:
        if fresh:
            for path in store.run_dir.glob("vlmq.rank*.sqlite*"):
                path.unlink()
        resumed = store.bind_spec(spec.identity(), fresh=fresh)
        merge_rank_stores(store)
        store.set_meta("provenance", provenance(resolve_device(spec.device)))
        store.set_meta("spec_full", spec.to_dict())
        if resumed:
            Progress(spec.quiet).note(f"resuming {spec.out}: {store.count_samples()} samples already stored")
    finally:
        store.close()


def open_worker_store(spec: RunSpec, world) -> Store:
    """The store this process writes: the run's own file, or its rank file under torchrun."""
    if not world.distributed:
        return Store(spec.out)
    store = Store(spec.out, path=rank_store_path(spec.out, world.rank))
    store.read_also(Path(spec.out) / STORE_NAME)
    return store


def run_recipes(spec: RunSpec, recipes: tuple[str, ...], world, debug: bool) -> None:
    """This process's share of the recipes, each isolated (in-process or in its own subprocess)."""
    data_parallel = spec.parallel == "data"
    mine = recipes if data_parallel else recipe_shard(recipes, world)
    shard = (lambda items: batch_shard(items, world, spec.batch_size)) if data_parallel else (lambda items: items)
    store, progress, samples = open_worker_store(spec, world), Progress(spec.quiet or not world.is_main), \
        SampleCache(spec, shard)
    try:
        for recipe in mine:
            if spec.launcher == "subprocess" and not world.distributed:
                run_in_subprocess(spec, recipe, store, progress, debug)
            else:
                run_one_recipe_isolated(spec, recipe, store, progress, samples, world=world, debug=debug)
    finally:
        store.close()


def run(spec: RunSpec, *, fresh: bool = False, debug: bool = False) -> RunResult:
    """The pipeline over every recipe of ``spec``; under torchrun each rank runs its share (see distributed).

    Rank 0 merges the rank stores and writes results.jsonl/results.csv; it returns the records.
    """
    world = current_world()
    recipes = ordered_recipes(spec)
    planned_tasks(spec)
    resolve_device(spec.device)
    init(world, spec.device)
    try:
        if world.is_main:
            prepare_main_store(spec, fresh)
        barrier(world)
        run_recipes(spec, recipes, world, debug)
        barrier(world)
        if not world.is_main:
            return RunResult(outcomes={}, is_main=False)
        main = Store(spec.out)
        try:
            merge_rank_stores(main)
            return RunResult(outcomes=main.outcomes(), records=write_results(main, spec))
        finally:
            main.close()
    finally:
        shutdown(world)
