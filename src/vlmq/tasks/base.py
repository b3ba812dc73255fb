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
from vlmq.store import Store, prompt_hash
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
    dataset_dir: str | None = None   # local lmms-lab-format data; None = hub id (offline: clear error)
    limit: int | None = None         # stratified, seeded subsample
    seed: int = 0
    jpeg_quality: int | None = None  # lmms-eval parity re-encoding
    scoring: str = "official"        # "official" | "lmms_eval"
    batch_size: int = 8              # prompts per generation batch
    speed: SpeedSettings = SpeedSettings()

    def __post_init__(self):
        check_scoring_mode(self.scoring)
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise VlmqError(f"limit must be a positive integer, got {self.limit!r}; pass --limit 1 or more")
        check_jpeg_quality(self.jpeg_quality)


@dataclass
class TaskRun:
    """One recipe's turn at a task: what `Task.run` needs, built by the pipeline."""

    recipe: str                      # the recipe name as given (records carry it)
    kernel: str                      # "real" | "emulated"
    engine: "Engine"                 # noqa: F821 - the recipe's engine (quantized model inside)
    store: Store                     # where rows and measurements go, committed as produced
    samples: list[Sample]            # this process's share of the task's samples ([] for measurement tasks)
    progress: Progress
    rank: int = 0


@dataclass(frozen=True)
class Headline:
    """The metric a task is summarised by in the report (one column per task)."""

    metric: str
    scale: float = 1.0               # multiply the value by this for display (fractions -> %)
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


class SampleTask(Task):
    """A task over samples: generate greedily for each sample not yet stored, score it, commit it.

    Subclasses implement ``score``; scored tasks also ``aggregate`` rows into metrics and ``compare`` a
    recipe's rows with the baseline's (paired tests). A task without a score (a prompt set) stores the
    generations only.
    """

    def run(self, ctx: TaskRun, opts: TaskOptions) -> int:
        done = ctx.store.done_ids(ctx.recipe, self.name)
        todo = [s for s in ctx.samples if s.id not in done]
        with ctx.progress.bar(len(todo), f"{ctx.recipe} · {self.name}") as bar:
            for start in range(0, len(todo), opts.batch_size):
                batch = todo[start:start + opts.batch_size]
                ok = [s for s in batch if not s.failed]
                prompts = [s.prompt for s in ok]
                generations = dict(zip([s.id for s in ok], ctx.engine.generate(prompts, self.max_new_tokens))) \
                    if ok else {}
                for sample in batch:
                    ctx.store.put_sample(self.sample_row(ctx, sample, generations.get(sample.id), opts))
                bar.update(len(batch))
        return len(todo)

    def sample_row(self, ctx: TaskRun, sample: Sample, gen, opts: TaskOptions) -> dict:
        """The stored row of one sample: its output, parsed answer, score (or failure) and timings."""
        output = gen.text if gen is not None else ""
        scored = self.score(sample, output, opts)
        return {"recipe": ctx.recipe, "task": self.name, "sample_id": sample.id,
                "prompt_hash": prompt_hash(sample.prompt.text, sample.prompt.image), "output": output, "parsed": scored.get("parsed"),
                "score": scored.get("score"), "target": sample.target, "meta": sample.meta,
                "timings": gen.timings if gen is not None else None, "error": scored.get("error"),
                "rank": ctx.rank}

    def score(self, sample: Sample, output: str, opts: TaskOptions) -> dict:
        """Scored tasks override this; a prompt set keeps the answer unscored."""
        if sample.failed:
            return failed_score(sample)
        return {"parsed": output.strip() or None, "score": None}

    def aggregate(self, rows: list[dict], opts: TaskOptions) -> list[dict]:
        return []

    def compare(self, base_rows: list[dict], rows: list[dict], opts: TaskOptions) -> list[dict]:
        return []

    def paired(self, store: Store, base_recipe: str, recipe: str, opts: TaskOptions) -> list[dict]:
        base_rows, rows = store.samples(base_recipe, self.name), store.samples(recipe, self.name)
        return self.compare(base_rows, rows, opts) if base_rows and rows else []

    def records(self, store: Store, recipe: str, baseline: str | None, opts: TaskOptions) -> list[dict]:
        rows = store.samples(recipe, self.name)
        if not rows:
            return []
        metrics = self.aggregate(rows, opts)
        if baseline is not None and baseline != recipe:
            paired = {(c["task"], c["metric"]): c for c in self.paired(store, baseline, recipe, opts)}
            for rec in metrics:
                comp = paired.get((rec["task"], rec["metric"]))
                if comp is not None:
                    rec.update(delta=comp["delta"], delta_ci_low=comp["ci_low"], delta_ci_high=comp["ci_high"],
                               p_value=comp["p_value"], paired_test=comp["test"], paired_n=comp["n"])
        for rec in metrics:
            if self.headline is not None and rec["task"] == self.name and rec["metric"] == self.headline.metric:
                rec.update(headline=True, display_scale=self.headline.scale, unit=self.headline.unit)
        return [{"recipe": recipe, **rec} for rec in metrics]


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


class DatasetTask(SampleTask):
    """An accuracy task over one lmms-lab-format table: load → restrict → subsample → samples.

    Subclasses give the data source, the stratum of each row (`strata`), and `make_sample`.
    """

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
