"""The task contract (docs/architecture.md, section vlmq.tasks): `Sample`, `TaskOptions`, `Task`.

Failed samples. An image that cannot be decoded (truncated, not an image) does not stop `load()`:
the sample comes back with ``prompt.image = None`` and ``meta["error"] = "<reason>"``. The runner
must not generate for it; it stores the row with ``output = ""`` and whatever `Task.score` returns
(``{"parsed": None, "score": None, "failed": True, "error": reason}``). `aggregate` leaves failed rows
out of every metric and reports how many there were as ``n_failed`` on each record, so a corrupt
dataset is visible in the results instead of silently lowering the accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmq.console import Progress
from vlmq.engine.types import Prompt
from vlmq.errors import VlmqError
from vlmq.metrics import check_scoring_mode
from vlmq.store import Store
from vlmq.tasks.images import check_jpeg_quality, preprocess_label

BOOTSTRAP_TEST = "bootstrap95"


@dataclass(frozen=True)
class Sample:
    id: str  # unique within the task (stable across runs)
    prompt: Prompt  # text with the task suffix, image already preprocessed (JPEG option)
    target: Any  # JSON-able ground truth (list of answers, "yes"/"no", ...)
    meta: dict  # JSON-able: split/category/question_type/question_id ...

    @property
    def failed(self) -> bool:
        return "error" in self.meta


@dataclass(frozen=True)
class SpeedSettings:
    """The speed benchmark's settings from the run spec (None: the benchmark's default for the device)."""

    batch_sizes: tuple[int, ...] | None = None
    image_sizes: tuple[int, ...] | None = None
    new_tokens: int | None = None
    repeats: int | None = None
    workload: str = "synthetic"
    compile: bool | None = None


@dataclass(frozen=True)
class TaskOptions:
    dataset_dir: str | None = None  # local lmms-lab-format data; None = hub id (offline: clear error)
    limit: int | None = None  # stratified, seeded subsample
    seed: int = 0
    jpeg_quality: int | None = None  # lmms-eval parity re-encoding
    scoring: str = "official"  # "official" | "lmms_eval"
    batch_size: int = 8  # prompts per generation batch
    speed: SpeedSettings = SpeedSettings()
    prompts: str | None = None  # label-free `fidelity` task: JSONL, image folder or "llava_bench"
    prompt: str | None = None  # its prompt for every image of a folder

    def __post_init__(self):
        check_scoring_mode(self.scoring)
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise VlmqError(f"limit must be a positive integer, got {self.limit!r}; pass --limit 1 or more")
        check_jpeg_quality(self.jpeg_quality)


@dataclass
class TaskRun:
    """One recipe's turn at a task: what `Task.run` needs, built by the pipeline."""

    recipe: str  # the recipe name as given (records carry it)
    kernel: str  # "real" | "emulated"
    engine: "Engine"  # noqa: F821 - the recipe's engine (quantized model inside)
    store: Store  # where rows and measurements go, committed as produced
    samples: list[Sample]  # this process's share of the task's samples ([] for measurement tasks)
    progress: Progress
    rank: int = 0
    baseline: str | None = None  # the run's baseline recipe (fidelity is measured against it)
    references_only: bool = False  # only the baseline's fidelity references (a rank without the baseline)


@dataclass(frozen=True)
class Headline:
    """The metric a task is summarised by in the report (one column per task)."""

    metric: str
    scale: float = 1.0  # multiply the value by this for display (fractions -> %)
    unit: str = ""


class Task:
    """Base of every task: ``load`` its samples, ``run`` one recipe (rows and measurements into the store),
    and turn what is stored into metric ``records`` (with the paired test against the baseline recipe).

    The pipeline and the report use only this protocol, never a task's name. ``sharded`` tasks deal their
    samples across data-parallel ranks; the others (measurements) run once per recipe.
    """

    name: str
    max_new_tokens: int
    headline: Headline | None = None
    sharded: bool = True

    def load(self, opts: TaskOptions) -> list[Sample]:
        return []

    def run(self, ctx: TaskRun, opts: TaskOptions) -> int:
        """Produce and store what is missing for ``ctx.recipe``; return how many items were produced."""
        raise NotImplementedError

    def records(self, store: Store, recipe: str, baseline: str | None, opts: TaskOptions) -> list[dict]:
        """Metric records of ``recipe`` from the store (paired against ``baseline`` when given)."""
        raise NotImplementedError

    def paired(self, store: Store, base_recipe: str, recipe: str, opts: TaskOptions) -> list[dict]:
        """Paired-test records of ``recipe`` against ``base_recipe`` on the same samples ([] where none)."""
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} max_new_tokens={self.max_new_tokens}>"


def failed_score(sample: Sample) -> dict:
    """The score of a sample whose input could not be prepared (see the module docstring)."""
    return {"parsed": None, "score": None, "failed": True, "error": sample.meta["error"]}


def split_failed(rows: list[dict]) -> tuple[list[dict], int]:
    """(rows that were scored, number of failed rows)."""
    scored = [row for row in rows if row.get("score") is not None]
    return scored, len(rows) - len(scored)


def metric_record(
    task: str,
    metric: str,
    value: float | None,
    ci: tuple,
    n: int,
    opts: TaskOptions,
    n_failed: int = 0,
    test: str = BOOTSTRAP_TEST,
) -> dict:
    """One aggregate record in the contract's shape, plus the scoring mode and image preprocessing.

    ``value`` and the interval are None where the metric is undefined on these samples.
    """
    return {
        **_estimate(task, metric, {"value": _number(value)}, ci),
        "n": n,
        "test": test,
        "mode": opts.scoring,
        "n_failed": n_failed,
        "image_preprocess": preprocess_label(opts.jpeg_quality),
    }


def _number(value) -> float | None:
    return None if value is None else float(value)


def _estimate(task: str, metric: str, figure: dict, ci: tuple) -> dict:
    """What a record states and its interval: the leading fields of aggregate and paired records alike."""
    return {"task": task, "metric": metric, **figure, "ci_low": _number(ci[0]), "ci_high": _number(ci[1])}


def compare_record(
    task: str, metric: str, delta: float | None, ci: tuple, p_value: float | None, test: str, n: int, opts: TaskOptions
) -> dict:
    """One paired-comparison record in the contract's shape, plus the scoring mode."""
    return {
        **_estimate(task, metric, {"delta": _number(delta)}, ci),
        "p_value": _number(p_value),
        "test": test,
        "n": n,
        "mode": opts.scoring,
    }


def pair_rows(base_rows: list[dict], rows: list[dict], task: str) -> list[tuple[dict, dict]]:
    """(base, candidate) rows with the same sample id, both scored, in the base order."""
    by_id = {row["sample_id"]: row for row in rows if row.get("score") is not None}
    pairs = [
        (base, by_id[base["sample_id"]])
        for base in base_rows
        if base.get("score") is not None and base["sample_id"] in by_id
    ]
    if not pairs:
        raise VlmqError(
            f"no sample of {task!r} was scored in both the baseline and this recipe; "
            "run both recipes on the same samples (same --limit and --seed)"
        )
    return pairs


def check_unique_ids(samples: list[Sample], task: str) -> None:
    """Ids key stored rows and pair recipes, so a duplicate would silently drop or mispair a sample."""
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise VlmqError(
                f"{task} data has two samples with id {sample.id!r}; use the unmodified "
                "lmms-lab dataset (question ids must be unique)"
            )
        seen.add(sample.id)


def columns(table, names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Rows of the named text columns, read through Arrow without touching the image column."""
    values = table.select_columns(list(names)).to_dict()
    values = [values[name] for name in names]
    return [tuple(str(value) for value in row) for row in zip(*values)]
