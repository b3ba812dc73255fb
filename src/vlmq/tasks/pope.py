"""POPE (lmms-eval ``pope`` / ``pope_full``) and its shapes twin ``shapes-pope``.

``pope`` reads the default config's ``test`` split (9000 rows, all three splits pooled) and reports
the pooled metrics as task ``pope`` plus one record set per split (``pope/random``,
``pope/popular``, ``pope/adversarial``). ``pope/<split>`` reads config ``Full`` split ``<split>``
(falling back to the pooled table filtered by ``category`` when only that is present) and reports
only that split. Prompt ``question.strip() + "\\nAnswer the question using a single word or
phrase."``, greedy, ``max_new_tokens=128``. Parsing and the five metrics (accuracy, precision,
recall, f1, yes_ratio; fractions) come from `vlmq.metrics.pope` in the chosen scoring mode.
A limit keeps the split mix and the yes/no balance within each split.
"""

from __future__ import annotations

from vlmq.engine.types import Prompt
from vlmq.errors import VlmqError
from vlmq.tasks.base import Headline, Sample, TaskOptions, columns, failed_score, split_failed
from vlmq.tasks.sampled import DatasetTask
from vlmq.tasks.sources import HubSource, MissingDataError, ShapesSource, load_table
from vlmq.tasks.uncertainty import bootstrap_metrics, mcnemar_accuracy, paired_metric_difference
from vlmq.tasks.vqav2 import SINGLE_WORD_SUFFIX

POPE_SPLITS = ("adversarial", "popular", "random")
POPE_METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")
ZERO_IF_UNDEFINED = "lmms_eval"  # pope_metrics_from_parsed's mode whose zero denominators give 0
POPE_COLUMNS = ("id", "question_id", "question", "answer", "image_source", "image", "category")
POPE_POOLED_SOURCE = HubSource(folder="pope", repo="POPE", split="test", columns=POPE_COLUMNS)
SHAPES_POPE_SOURCE = ShapesSource(kind="pope", default_n=100, rows_per_n=3, columns=POPE_COLUMNS)


def pope_split_source(split: str) -> HubSource:
    return HubSource(folder="pope", repo="POPE", split=split, columns=POPE_COLUMNS, config="Full")


class PopeTask(DatasetTask):
    """POPE-format object-hallucination yes/no questions (accuracy, precision, recall, f1, yes_ratio).

    ``split=None``: the pooled task (records pooled and per split); else one split only.
    """

    max_new_tokens = 128
    headline = Headline("f1", 100.0, "%")

    def __init__(
        self,
        name: str,
        source: HubSource | ShapesSource,
        split: str | None = None,
        pooled_source: HubSource | ShapesSource | None = None,
    ):
        if split is not None and split not in POPE_SPLITS:
            raise VlmqError(f"unknown POPE split {split!r}; choose from: {', '.join(POPE_SPLITS)}")
        self.name, self.source, self.split, self.pooled_source = name, source, split, pooled_source

    def load_table(self, opts: TaskOptions):
        try:
            return load_table(self.source, opts)
        except MissingDataError as missing_split:
            if self.pooled_source is None:
                raise
            try:
                return load_table(self.pooled_source, opts)
            except MissingDataError:
                raise missing_split from None

    def restrict(self, table):
        if self.split is None:
            return table
        kept = table.filter(lambda category: category == self.split, input_columns="category")
        if len(kept) == 0:
            raise VlmqError(
                f"no POPE rows with category {self.split!r}; the data has: "
                f"{', '.join(sorted({category for (category,) in columns(table, ('category',))}))}"
            )
        return kept

    def strata(self, table) -> list[tuple[str, ...]]:
        return columns(table, ("category", "answer"))

    def make_sample(self, row: dict, image) -> Sample:
        meta = {key: row[key] for key in ("category", "question_id", "image_source")}
        return Sample(
            id=f"{row['category']}/{row['question_id']}",
            prompt=Prompt(row["question"].strip() + SINGLE_WORD_SUFFIX, image),
            target=row["answer"].lower().strip(),
            meta=meta,
        )

    def score(self, sample: Sample, output: str, opts: TaskOptions) -> dict:
        from vlmq.metrics.pope import parse_label, parse_yes_no

        if sample.failed:
            return failed_score(sample)
        parsed = parse_yes_no(output, mode=opts.scoring)
        return {"parsed": parsed, "score": float(parsed == parse_label(sample.target, mode=opts.scoring))}

    def groups(self, rows: list[dict]) -> dict[str, list[dict]]:
        """Record name → rows: the task itself, plus one group per split for the pooled task."""
        grouped = {self.name: rows}
        if self.split is None:
            for split in sorted({row["meta"]["category"] for row in rows}):
                grouped[f"{self.name}/{split}"] = [row for row in rows if row["meta"]["category"] == split]
        return grouped

    def aggregate(self, rows: list[dict], opts: TaskOptions) -> list[dict]:
        records = []
        for name, group in self.groups(rows).items():
            scored, n_failed = split_failed(group)
            records += bootstrap_metrics(
                name,
                scored,
                _pope_statistic(opts.scoring),
                POPE_METRICS,
                opts,
                n_failed,
                resample_statistic=_pope_statistic(ZERO_IF_UNDEFINED),
            )
        return records

    def compare(self, base_rows: list[dict], rows: list[dict], opts: TaskOptions) -> list[dict]:
        records = []
        base_groups = self.groups(base_rows)
        for name, group in self.groups(rows).items():
            base = base_groups.get(name, [])
            records.append(mcnemar_accuracy(name, base, group, opts))
            records.append(
                paired_metric_difference(
                    name,
                    "f1",
                    base,
                    group,
                    _pope_statistic(opts.scoring),
                    opts,
                    resample_statistic=_pope_statistic(ZERO_IF_UNDEFINED),
                )
            )
        return records


def _pope_statistic(mode: str):
    """rows → the five POPE metrics, from the parsed answers (parsing stays in vlmq.metrics.pope).

    The rows' answers are already parsed in the run's scoring mode, so ``mode`` here only picks what
    a zero denominator does: raise (official) or give 0 (lmms_eval, `ZERO_IF_UNDEFINED`).
    """
    from vlmq.metrics.pope import pope_metrics_from_parsed

    def statistic(rows: list[dict]) -> dict:
        return pope_metrics_from_parsed([row["parsed"] for row in rows], [row["target"] for row in rows], mode=mode)

    return statistic
