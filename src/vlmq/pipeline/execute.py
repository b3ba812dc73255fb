"""Run one recipe: load → quantize the text decoder → engine → every task → store.

Fault isolation: a recipe that raises (CUDA OOM, NaN logits, missing kernel, unsupported device) is
recorded as that recipe's outcome with its reason and the run goes on with the next recipe.
Every sample is committed as it is produced; rerunning the same spec resumes.
"""

from __future__ import annotations

from typing import Callable

import torch

from vlmq.console import Progress, describe_failure
from vlmq.device import release_memory, resolve_device
from vlmq.engine import Engine
from vlmq.errors import BadData, BadModel, RunInputError, UnsupportedOnDevice, VlmqError
from vlmq.models import load_model
from vlmq.recipes import apply_recipe, engine_options, kernel_label, load_calibration, parse_recipe, prepare_engine
from vlmq.spec import RunSpec
from vlmq.store import Store
from vlmq.tasks import TaskRun

from .plan import planned_tasks, task_options


class SampleCache:
    """Task samples loaded once per run and reused by every recipe (same ids, same images).

    ``all`` is the whole task; ``get`` this process's share (``shard``: a torchrun rank's batches).
    """

    def __init__(self, spec: RunSpec, shard: Callable[[list], list] | None = None):
        self.spec, self.shard, self._cache = spec, shard, {}

    def all(self, task) -> list:
        if task.name not in self._cache:
            try:
                self._cache[task.name] = task.load(task_options(self.spec, task.name))
            except VlmqError as err:
                raise BadData(str(err)) from err
        return self._cache[task.name]

    def get(self, task) -> list:
        samples = self.all(task)
        return self.shard(samples) if task.sharded and self.shard is not None else samples


def check_finite_logits(engine, samples) -> None:
    """NaN/Inf logits are a recipe failure (recorded with this reason), not silently wrong answers."""
    probe = [s.prompt for s in samples if not s.failed][:1]
    if probe and not torch.isfinite(engine.next_token_logits(probe)).all():
        raise VlmqError(
            "NaN or Inf in the next-token logits after quantization; this recipe is numerically broken here"
        )


def recipe_calibration(spec: RunSpec, recipe_spec, *, text_only: bool = False):
    """The calibration set of one recipe: the run's corpus, in the recipe's own languages if it names any."""
    languages = recipe_spec.calib_languages or spec.calib_languages
    return load_calibration(spec.calib_source, n=spec.calib_n, languages=languages, seed=spec.seed, text_only=text_only)


def build_engine(loaded, recipe_spec, spec: RunSpec, device: torch.device, progress: Progress):
    """The engine for one recipe, with calibrated FP8 KV scales where the recipe asks for them.

    Returns (engine, summary of the KV calibration corpus or None).
    """
    compile_ = spec.compile if spec.compile is not None else device.type == "cuda"
    engine = Engine(loaded, **engine_options(recipe_spec), compile=compile_, max_batch_size=spec.batch_size)
    calib = None
    if recipe_spec.kv_needs_calibration:
        progress.note(f"[{recipe_spec.name}] calibrating FP8 KV scales ({recipe_spec.kv.strategy})")
        calib = recipe_calibration(spec, recipe_spec)
    return engine, prepare_engine(engine, recipe_spec, calib)


def quantized_model(spec: RunSpec, recipe_spec, device: torch.device, progress: Progress):
    """(loaded model with the recipe applied, the recipe's summary); a bad model stops the run."""
    progress.note(f"[{recipe_spec.name}] loading {spec.model} on {device}")
    try:
        loaded = load_model(spec.model, device=str(device), min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    except VlmqError as err:
        raise BadModel(str(err)) from err
    calib = recipe_calibration(spec, recipe_spec) if recipe_spec.recipe.needs_calibration else None
    progress.note(f"[{recipe_spec.name}] applying recipe ({kernel_label(recipe_spec, device)})")
    return loaded, apply_recipe(loaded, recipe_spec, calib)


def run_recipe(
    spec: RunSpec,
    recipe: str,
    store: Store,
    progress: Progress,
    samples: SampleCache,
    world=None,
    references_only: bool = False,
) -> None:
    """Run every task of one recipe; raises on failure (the caller records the outcome).

    ``references_only``: only the baseline's fidelity references (a torchrun rank whose recipes are compared
    with a baseline another rank runs): no measurement, no outcome.
    """
    recipe_spec = parse_recipe(recipe)
    device = resolve_device(spec.device)
    rank = world.rank if world is not None else 0
    # measurement tasks run once per recipe: on rank 0 in data-parallel runs, on the recipe's own rank otherwise
    measures = world is None or world.is_main or spec.parallel == "recipe"
    tasks = planned_tasks(spec)
    loaded, summary = quantized_model(spec, recipe_spec, device, progress)
    engine, summary["kv_calibration"] = build_engine(loaded, recipe_spec, spec, device, progress)
    kernel = kernel_label(recipe_spec, device)
    sampled = [t for t in tasks if t.sharded and samples.get(t)]
    if sampled:
        check_finite_logits(engine, samples.get(sampled[0]))
    for task in tasks:
        if task.sharded or (measures and not references_only):
            ctx = TaskRun(
                recipe=recipe,
                kernel=kernel,
                engine=engine,
                store=store,
                samples=samples.get(task),
                progress=progress,
                rank=rank,
                baseline=spec.baseline,
                references_only=references_only,
            )
            task.run(ctx, task_options(spec, task.name))
    if not references_only:
        store.set_outcome(recipe, "ok", kernel=kernel, details=summary)


def baseline_references(spec: RunSpec, store: Store, progress: Progress, samples: SampleCache, world) -> None:
    """Fidelity under ``--parallel recipe``: a rank that does not run the baseline computes the baseline's
    references itself (its recipes are compared with them); a failure here costs only those comparisons."""
    try:
        run_recipe(spec, spec.baseline, store, progress, samples, world, references_only=True)
    except (KeyboardInterrupt, RunInputError):
        raise
    except Exception as err:  # noqa: BLE001 - the baseline's own rank records its real outcome
        progress.note(f"[{spec.baseline}] fidelity references failed here: {describe_failure(err)}")
    finally:
        release_memory()


def run_one_recipe_isolated(
    spec: RunSpec, recipe: str, store: Store, progress: Progress, samples: SampleCache, world=None, debug: bool = False
) -> None:
    """Run one recipe and record its outcome; only KeyboardInterrupt and a bad model or dataset escape."""
    try:
        run_recipe(spec, recipe, store, progress, samples, world)
    except UnsupportedOnDevice as err:
        store.set_outcome(recipe, "skipped", reason=str(err))
        progress.note(f"[{recipe}] skipped: {err}")
    except (KeyboardInterrupt, RunInputError):
        raise
    except Exception as err:  # noqa: BLE001 - fault isolation is the point
        reason = describe_failure(err)
        store.set_outcome(recipe, "failed", reason=reason)
        progress.note(f"[{recipe}] failed: {reason}")
        if debug:
            raise
    finally:
        release_memory()
