"""The pipeline: for each recipe, load → quantize the text decoder → engine → tasks → store.

Fault isolation: a recipe that raises (CUDA OOM, NaN logits, missing kernel, unsupported device) is
recorded as that recipe's outcome with its reason and the run goes on with the next recipe.
Every sample is committed as it is produced; rerunning the same spec resumes.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from vlmq.errors import BadData, BadModel, RunInputError, UnsupportedOnDevice, VlmqError
from vlmq.spec import RunSpec
from vlmq.store import STORE_NAME, Store

# Recipes that "auto" adds beyond the base recipes: the study's FP8-KV failure and its remedy.
AUTO_EXTRA_RECIPES = ("fp8+kv_fp8_text", "fp8+kv_fp8_vis")


@dataclass
class RunResult:
    outcomes: dict[str, dict[str, Any]]
    records: list[dict[str, Any]] = field(default_factory=list)
    is_main: bool = True   # False on torchrun ranks > 0: rank 0 reports for the whole run

    @property
    def any_ok(self) -> bool:
        return any(o["status"] == "ok" for o in self.outcomes.values())


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VlmqError(f"--device {device} asked for a GPU but CUDA is not available here; use --device cpu or auto")
    return torch.device(device)


def expand_recipes(names: tuple[str, ...]) -> tuple[str, ...]:
    """Validate recipe names (before any work starts) and expand 'auto'."""
    from vlmq.recipes import list_recipes, parse_recipe

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


def validate_tasks(names: tuple[str, ...]):
    from vlmq.tasks import get_task

    return [get_task(name) for name in names]


def task_options(spec: RunSpec, task: str | None = None):
    from vlmq.tasks import TaskOptions

    limit = spec.limit_for(task) if task is not None else spec.limit
    return TaskOptions(dataset_dir=spec.dataset_dir, limit=limit, seed=spec.seed,
                       jpeg_quality=spec.jpeg_quality, scoring=spec.scoring, prompts=spec.prompts, prompt=spec.prompt)


def prompt_hash(prompt) -> str:
    digest = hashlib.sha256(prompt.text.encode())
    if prompt.image is not None:
        digest.update(prompt.image.tobytes())
    return digest.hexdigest()[:16]


class Progress:
    """tqdm bars that vanish with --quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def bar(self, total: int, desc: str):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=self.quiet, leave=False, dynamic_ncols=True, file=sys.stderr)

    def note(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)


class SampleCache:
    """Task samples loaded once per run and reused by every recipe (same ids, same images)."""

    def __init__(self, spec: RunSpec, shard: Callable[[list], list] = lambda s: s):
        self.spec, self.shard, self._cache = spec, shard, {}

    def get(self, task) -> list:
        if task.name not in self._cache:
            try:
                samples = task.load(task_options(self.spec, task.name))
            except VlmqError as err:
                raise BadData(str(err)) from err
            self._cache[task.name] = self.shard(samples)
        return self._cache[task.name]


def run_accuracy_task(engine, task, samples, store: Store, recipe: str, spec: RunSpec, progress: Progress, rank: int = 0) -> int:
    """Generate and score every sample not yet stored; commit each as it is produced."""
    opts = task_options(spec, task.name)
    done = store.done_ids(recipe, task.name)
    todo = [s for s in samples if s.id not in done]
    with progress.bar(len(todo), f"{recipe} · {task.name}") as bar:
        for start in range(0, len(todo), spec.batch_size):
            batch = todo[start:start + spec.batch_size]
            ok = [s for s in batch if not s.failed]
            generations = dict(zip([s.id for s in ok], engine.generate([s.prompt for s in ok], task.max_new_tokens))) if ok else {}
            for sample in batch:
                gen = generations.get(sample.id)
                output = gen.text if gen is not None else ""
                scored = task.score(sample, output, opts)
                store.put_sample({
                    "recipe": recipe, "task": task.name, "sample_id": sample.id, "prompt_hash": prompt_hash(sample.prompt),
                    "output": output, "parsed": scored.get("parsed"), "score": scored.get("score"),
                    "target": sample.target, "meta": sample.meta, "timings": gen.timings if gen is not None else None,
                    "error": scored.get("error"), "rank": rank})
            bar.update(len(batch))
    return len(todo)


def check_finite_logits(engine, samples) -> None:
    """NaN/Inf logits are a recipe failure (recorded with this reason), not silently wrong answers."""
    probe = [s.prompt for s in samples if not s.failed][:1]
    if probe and not torch.isfinite(engine.next_token_logits(probe)).all():
        raise VlmqError("NaN or Inf in the next-token logits after quantization; this recipe is numerically broken here")


def recipe_calibration(spec: RunSpec, recipe_spec, *, text_only: bool = False):
    """The calibration set of one recipe: the run's corpus, in the recipe's own languages if it names any."""
    from vlmq.recipes import load_calibration

    languages = recipe_spec.calib_languages or spec.calib_languages
    return load_calibration(spec.calib_source, n=spec.calib_n, languages=languages, seed=spec.seed, text_only=text_only)


def build_engine(loaded, recipe_spec, spec: RunSpec, device: torch.device, progress: Progress):
    """The engine for one recipe, with calibrated FP8 KV scales where the recipe asks for them.

    Returns (engine, summary of the KV calibration corpus or None).
    """
    from vlmq.engine import Engine, KVConfig
    from vlmq.recipes import calibrate_kv_scales

    compile_ = spec.compile if spec.compile is not None else device.type == "cuda"
    kv = recipe_spec.kv
    engine = Engine(loaded, kv=KVConfig() if kv.dtype == "fp8" and kv.strategy != "dynamic" else kv,
                    compile=compile_, fp8_attention=recipe_spec.fp8_attention, max_batch_size=spec.batch_size)
    if kv.dtype != "fp8" or kv.strategy == "dynamic":
        return engine, None
    progress.note(f"[{recipe_spec.name}] calibrating FP8 KV scales ({kv.strategy})")
    text_only = kv.strategy == "static_text_only"
    calib = recipe_calibration(spec, recipe_spec, text_only=text_only)
    engine.set_kv(replace(kv, scales=calibrate_kv_scales(engine, calib, kv.strategy)))
    return engine, calib.summary


def run_recipe(spec: RunSpec, recipe: str, store: Store, progress: Progress, samples: SampleCache,
               world=None, references_only: bool = False) -> None:
    """Run every task of one recipe; raises on failure (the caller records the outcome).

    ``references_only``: only the fidelity references of the baseline (#18), no records, no outcome.
    """
    from vlmq.models import load_model
    from vlmq.recipes import apply_recipe, kernel_label, parse_recipe

    recipe_spec = parse_recipe(recipe)
    device = resolve_device(spec.device)
    rank = world.rank if world is not None else 0
    # one speed measurement per recipe: rank 0 in data-parallel runs, the recipe's own rank otherwise
    measures_speed = world is None or world.is_main or spec.parallel == "recipe"
    tasks = validate_tasks(spec.tasks)
    progress.note(f"[{recipe}] loading {spec.model} on {device}")
    try:
        loaded = load_model(spec.model, device=str(device), min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    except VlmqError as err:
        raise BadModel(str(err)) from err
    kernel = kernel_label(recipe_spec, device)
    calib = None
    if recipe_spec.recipe.needs_calibration:
        calib = recipe_calibration(spec, recipe_spec)
    progress.note(f"[{recipe}] applying recipe ({kernel})")
    summary = apply_recipe(loaded, recipe_spec, calib)
    engine, kv_calibration = build_engine(loaded, recipe_spec, spec, device, progress)
    summary["kv_calibration"] = kv_calibration
    accuracy = [t for t in tasks if t.kind == "accuracy"]
    if accuracy:
        check_finite_logits(engine, samples.get(accuracy[0]))
    for task in tasks:
        if task.kind in ("accuracy", "fidelity"):
            if not references_only:
                run_accuracy_task(engine, task, samples.get(task), store, recipe, spec, progress, rank)
            # fidelity (#18): the baseline's references, or this recipe's KL/agreement against them
            from vlmq.tasks.fidelity import run_fidelity_pass
            run_fidelity_pass(engine, task, samples.get(task), store, recipe, spec.baseline, spec.batch_size, progress, rank)
        elif task.kind == "speed" and measures_speed and not references_only and not store.has_measurements(recipe, task.name):
            # honesty (#18): an emulated recipe's speed is not measured, so do not announce a measurement
            progress.note(f"[{recipe}] measuring speed" if kernel == "real" else f"[{recipe}] speed not measured ({kernel} kernels)")
            store.put_measurements(recipe, task.measure(engine, loaded, recipe, kernel, spec))
    if not references_only:
        store.set_outcome(recipe, "ok", kernel=kernel, details=summary)


def baseline_references(spec: RunSpec, store: Store, progress: Progress, samples: SampleCache, world) -> None:
    """Fidelity (#18) under --parallel recipe: a rank that does not run the baseline computes the baseline's
    references itself (its recipes are compared with them); a failure here costs only those comparisons."""
    try:
        run_recipe(spec, spec.baseline, store, progress, samples, world, references_only=True)
    except (KeyboardInterrupt, RunInputError):
        raise
    except Exception as err:  # noqa: BLE001 - the baseline's own rank records its real outcome
        progress.note(f"[{spec.baseline}] fidelity references failed here: {describe_failure(err)}")
    finally:
        release_memory()


def describe_failure(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    if isinstance(err, torch.OutOfMemoryError):
        return f"CUDA out of memory ({text[:160]}); try a smaller --batch-size or a smaller model"
    if isinstance(err, VlmqError):
        return text
    return f"{type(err).__name__}: {text[:300]}"


def release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_one_recipe_isolated(spec: RunSpec, recipe: str, store: Store, progress: Progress, samples: SampleCache,
                            world=None, debug: bool = False) -> None:
    """Run one recipe and record its outcome; only KeyboardInterrupt and a bad model escape."""
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


def _subprocess_worker(spec_dict: dict, recipe: str, debug: bool = False) -> None:
    from vlmq.cli import quiet_libraries

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


def diagnose_run(store: Store, spec: RunSpec, progress: Progress) -> None:
    """The diagnosis section (vlmq.diagnose); a failure here never costs the run's results."""
    from vlmq.diagnose import run_diagnosis
    from vlmq.results import collect_records

    progress.note("diagnosing (K/V ranges, saturation, sensitivity)")
    try:
        run_diagnosis(spec, collect_records(store, spec))
    except (KeyboardInterrupt, VlmqError):
        raise
    except Exception as err:  # noqa: BLE001 - keep the run's results whatever the probes do
        progress.note(f"diagnosis failed: {describe_failure(err)}")
        store.set_meta("diagnosis_error", describe_failure(err))


def prepare_main_store(spec: RunSpec, world, fresh: bool) -> None:
    """Rank 0 (or the only process): bind the spec, fold in rank files a killed run left, record provenance."""
    from vlmq.distributed import merge_rank_stores
    from vlmq.provenance import provenance

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
    from vlmq.distributed import rank_store_path

    if not world.distributed:
        return Store(spec.out)
    store = Store(spec.out, path=rank_store_path(spec.out, world.rank))
    store.read_also(Path(spec.out) / STORE_NAME)
    return store


def run(spec: RunSpec, *, fresh: bool = False, debug: bool = False) -> RunResult:
    """The whole pipeline. Under torchrun each rank runs its share (see vlmq.distributed)."""
    from vlmq.distributed import barrier, batch_shard, current_world, init, merge_rank_stores, recipe_shard, shutdown
    from vlmq.results import export_run

    world = current_world()
    recipes = ordered_recipes(spec)
    validate_tasks(spec.tasks)
    resolve_device(spec.device)
    init(world, spec.device)
    try:
        if world.is_main:
            prepare_main_store(spec, world, fresh)
        barrier(world)
        data_parallel = spec.parallel == "data"
        mine = recipes if data_parallel else recipe_shard(recipes, world)
        shard = (lambda items: batch_shard(items, world, spec.batch_size)) if data_parallel else (lambda items: items)
        store, progress, samples = open_worker_store(spec, world), Progress(spec.quiet or not world.is_main), SampleCache(spec, shard)
        try:
            if not data_parallel and world.distributed and spec.baseline in recipes and spec.baseline not in mine:
                baseline_references(spec, store, progress, samples, world)   # fidelity (#18)
            for recipe in mine:
                if spec.launcher == "subprocess" and not world.distributed:
                    run_in_subprocess(spec, recipe, store, progress, debug)
                else:
                    run_one_recipe_isolated(spec, recipe, store, progress, samples, world=world, debug=debug)
        finally:
            store.close()
        barrier(world)
        if not world.is_main:
            return RunResult(outcomes={}, is_main=False)
        main = Store(spec.out)
        try:
            merge_rank_stores(main)
            if spec.diagnose:
                diagnose_run(main, spec, progress)
            return RunResult(outcomes=main.outcomes(), records=export_run(main, spec))
        finally:
            main.close()
    finally:
        shutdown(world)
