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

from vlmq.engine.types import Prompt
from vlmq.errors import VlmqError
from vlmq.metrics import check_scoring_mode
from vlmq.tasks.images import check_jpeg_quality, prepare_image, preprocess_label
from vlmq.tasks.sampling import stratified_sample
from vlmq.tasks.sources import HubSource, ShapesSource, load_table

BOOTSTRAP_TEST = "bootstrap95"


@dataclass(frozen=True)
class Sample:
    id: str                          # unique within the task (stable across runs)
    prompt: Prompt                   # text with the task suffix, image already preprocessed (JPEG option)
    target: Any                      # JSON-able ground truth (list of answers, "yes"/"no", ...)
    meta: dict                       # JSON-able: split/category/question_type/question_id ...

    @property
    def failed(self) -> bool:
        return "error" in self.meta


@dataclass(frozen=True)
class TaskOptions:
    dataset_dir: str | None = None   # local lmms-lab-format data; None = hub id (offline: clear error)
    limit: int | None = None         # stratified, seeded subsample
    seed: int = 0
    jpeg_quality: int | None = None  # lmms-eval parity re-encoding
    scoring: str = "official"        # "official" | "lmms_eval"
    prompts: str | None = None       # label-free `fidelity` task: JSONL, image folder or "llava_bench"
    prompt: str | None = None        # its prompt for every image of a folder

    def __post_init__(self):
        check_scoring_mode(self.scoring)
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise VlmqError(f"limit must be a positive integer, got {self.limit!r}; pass --limit 1 or more")
        check_jpeg_quality(self.jpeg_quality)


class Task:
    """Base of every task: samples in, per-sample rows out, rows into metric records.

    Subclasses set ``name``, ``max_new_tokens`` and ``kind`` ("accuracy" | "speed" | "workload")
    and implement `load`; accuracy tasks also implement `score`, `aggregate` and `compare`.
    """

    name: str
    max_new_tokens: int
    kind: str

    def load(self, opts: TaskOptions) -> list[Sample]:
        raise NotImplementedError

    def score(self, sample: Sample, output: str, opts: TaskOptions) -> dict:
        raise VlmqError(f"task {self.name!r} is a {self.kind} task and has no score; use an accuracy task")

    def aggregate(self, rows: list[dict], opts: TaskOptions) -> list[dict]:
        raise VlmqError(f"task {self.name!r} is a {self.kind} task and has no metrics; use an accuracy task")

    def compare(self, base_rows: list[dict], rows: list[dict], opts: TaskOptions) -> list[dict]:
        raise VlmqError(f"task {self.name!r} is a {self.kind} task and has no paired test; use an accuracy task")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} kind={self.kind} max_new_tokens={self.max_new_tokens}>"


def failed_score(sample: Sample) -> dict:
    """The score of a sample whose input could not be prepared (see the module docstring)."""
    return {"parsed": None, "score": None, "failed": True, "error": sample.meta["error"]}


def split_failed(rows: list[dict]) -> tuple[list[dict], int]:
    """(rows that were scored, number of failed rows)."""
    scored = [row for row in rows if row.get("score") is not None]
    return scored, len(rows) - len(scored)


def metric_record(task: str, metric: str, value: float | None, ci: tuple, n: int,
                  opts: TaskOptions, n_failed: int = 0, test: str = BOOTSTRAP_TEST) -> dict:
    """One aggregate record in the contract's shape, plus the scoring mode and image preprocessing.

    ``value`` and the interval are None where the metric is undefined on these samples.
    """
    return {"task": task, "metric": metric, "value": _number(value), "ci_low": _number(ci[0]),
            "ci_high": _number(ci[1]), "n": n, "test": test, "mode": opts.scoring,
            "n_failed": n_failed, "image_preprocess": preprocess_label(opts.jpeg_quality)}


def _number(value) -> float | None:
    return None if value is None else float(value)


def compare_record(task: str, metric: str, delta: float | None, ci: tuple, p_value: float | None,
                   test: str, n: int, opts: TaskOptions) -> dict:
    """One paired-comparison record in the contract's shape, plus the scoring mode."""
    return {"task": task, "metric": metric, "delta": _number(delta), "ci_low": _number(ci[0]),
            "ci_high": _number(ci[1]), "p_value": _number(p_value), "test": test, "n": n,
            "mode": opts.scoring}


def pair_rows(base_rows: list[dict], rows: list[dict], task: str) -> list[tuple[dict, dict]]:
    """(base, candidate) rows with the same sample id, both scored, in the base order."""
    by_id = {row["sample_id"]: row for row in rows if row.get("score") is not None}
    pairs = [(base, by_id[base["sample_id"]]) for base in base_rows
             if base.get("score") is not None and base["sample_id"] in by_id]
    if not pairs:
        raise VlmqError(f"no sample of {task!r} was scored in both the baseline and this recipe; "
                        "run both recipes on the same samples (same --limit and --seed)")
    return pairs


class DatasetTask(Task):
    """An accuracy task over one lmms-lab-format table: load → restrict → subsample → samples.

    Subclasses give the data source, the stratum of each row (`strata`), and `make_sample`.
    """

    kind = "accuracy"
    source: "HubSource | ShapesSource"

    def load(self, opts: TaskOptions) -> list[Sample]:
        table = self.restrict(self.load_table(opts))
        rows = table.select(self.select(table, opts))
        samples = self.number([self.build_sample(row, opts) for row in rows])
        check_unique_ids(samples, self.name)
        return samples

    def number(self, samples: list[Sample]) -> list[Sample]:
        """Final sample ids (MME appends the question's position within its image)."""
        return samples

    def load_table(self, opts: TaskOptions) -> "datasets.Dataset":  # noqa: F821
        return load_table(self.source, opts)

    def restrict(self, table):
        """The rows this task variant covers (e.g. one POPE split of the pooled table)."""
        return table

    def select(self, table, opts: TaskOptions) -> list[int]:
        return stratified_sample(self.strata(table), opts.limit, opts.seed)

    def strata(self, table) -> list[tuple[str, ...]]:
        raise NotImplementedError

    def build_sample(self, row: dict, opts: TaskOptions) -> Sample:
        image, error = prepare_image(row["image"], opts.jpeg_quality)
        sample = self.make_sample(row, image)
        meta = dict(sample.meta, image_preprocess=preprocess_label(opts.jpeg_quality))
        if error is not None:
            meta["error"] = error
        return Sample(id=sample.id, prompt=sample.prompt, target=sample.target, meta=meta)

    def make_sample(self, row: dict, image) -> Sample:
        raise NotImplementedError


def check_unique_ids(samples: list[Sample], task: str) -> None:
    """Ids key stored rows and pair recipes, so a duplicate would silently drop or mispair a sample."""
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise VlmqError(f"{task} data has two samples with id {sample.id!r}; use the unmodified "
                            "lmms-lab dataset (question ids must be unique)")
        seen.add(sample.id)


def columns(table, names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Rows of the named text columns, read through Arrow without touching the image column."""
    values = table.select_columns(list(names)).to_dict()
    values = [values[name] for name in names]
    return [tuple(str(value) for value in row) for row in zip(*values)]
