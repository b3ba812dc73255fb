"""MME (lmms-eval ``mme``), its per-subtask variants ``mme/<subtask>``, and ``shapes-mme``.

Prompt: the dataset question, stripped, with " Please answer yes or no." removed and the
single-word suffix appended (lmms-eval ``mme_doc_to_text`` for qwen2_vl); greedy,
``max_new_tokens=16``. Parsing and scores come from `vlmq.metrics.mme`: ``<subtask>_score``
(``100*acc + 100*acc_plus``, max 200), ``perception_total`` and ``cognition_total`` (sums of the
subtasks present), all in points. An image's two questions are never split: a limit samples whole
images, stratified by subtask, and the bootstrap resamples images.

Sample ids are ``"<question_id>#<k>"`` with k the question's position (0 or 1) within its image in
dataset order (``question_id`` is the image path, shared by both questions).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from vlmq.engine.types import Prompt
from vlmq.errors import VlmqError
from vlmq.tasks.base import Headline, Sample, TaskOptions, columns, failed_score, split_failed
from vlmq.tasks.sampled import DatasetTask
from vlmq.tasks.sampling import grouped_sample
from vlmq.tasks.sources import HubSource, ShapesSource
from vlmq.tasks.uncertainty import bootstrap_metrics, mcnemar_accuracy, paired_metric_difference
from vlmq.tasks.vqav2 import SINGLE_WORD_SUFFIX

MME_INSTRUCTION = " Please answer yes or no."
MME_COLUMNS = ("question_id", "image", "question", "answer", "category")
MME_SOURCE = HubSource(folder="mme", repo="MME", split="test", columns=MME_COLUMNS)
SHAPES_MME_SOURCE = ShapesSource(kind="mme", default_n=10, rows_per_n=12, columns=MME_COLUMNS)


def mme_subtasks() -> tuple[str, ...]:
    from vlmq.metrics.mme import SUBTASKS

    return SUBTASKS


class MMETask(DatasetTask):
    """MME-format yes/no pairs per image (perception/cognition totals and subtask scores, points).

    ``subtask=None``: every subtask in the data; else that subtask only.
    """

    max_new_tokens = 16
    headline = Headline("perception_total", 1.0, "pts")

    def __init__(self, name: str, source: HubSource | ShapesSource, subtask: str | None = None):
        if subtask is not None and subtask not in mme_subtasks():
            raise VlmqError(f"unknown MME subtask {subtask!r}; choose from: {', '.join(mme_subtasks())}")
        self.name, self.source, self.subtask = name, source, subtask

    def number(self, samples: list[Sample]) -> list[Sample]:
        position = Counter()
        numbered = []
        for sample in samples:
            image_key = sample.meta["question_id"]
            numbered.append(dataclasses.replace(sample, id=f"{image_key}#{position[image_key]}"))
            position[image_key] += 1
        return numbered

    def restrict(self, table):
        found = {category for (category,) in columns(table, ("category",))}
        unknown = sorted(found - set(mme_subtasks()))
        if unknown:
            raise VlmqError(f"MME data has unknown subtask(s) {', '.join(unknown)}; valid: {', '.join(mme_subtasks())}")
        if self.subtask is None:
            return table
        if self.subtask not in found:
            raise VlmqError(f"MME data has no subtask {self.subtask!r}; it has: {', '.join(sorted(found))}")
        return table.filter(lambda category: category == self.subtask, input_columns="category")

    def select(self, table, opts: TaskOptions) -> list[int]:
        images = [question_id for (question_id,) in columns(table, ("question_id",))]
        return grouped_sample(columns(table, ("category",)), images, opts.limit, opts.seed)

    def make_sample(self, row: dict, image) -> Sample:
        question = row["question"].strip().replace(MME_INSTRUCTION, "") + SINGLE_WORD_SUFFIX
        return Sample(
            id=row["question_id"],
            prompt=Prompt(question, image),
            target=row["answer"],
            meta={"question_id": row["question_id"], "category": row["category"]},
        )

    def score(self, sample: Sample, output: str, opts: TaskOptions) -> dict:
        from vlmq.metrics.mme import parse_mme_answer, parse_mme_label

        if sample.failed:
            return failed_score(sample)
        parsed = parse_mme_answer(output, mode=opts.scoring)
        return {"parsed": parsed, "score": float(parsed == parse_mme_label(sample.target, mode=opts.scoring))}

    def aggregate(self, rows: list[dict], opts: TaskOptions) -> list[dict]:
        images, n_failed = image_units(rows)
        records = []
        for metric, units in metric_units(images).items():
            records += bootstrap_metrics(self.name, units, _mme_statistic, [metric], opts, n_failed, n=2 * len(units))
        return records

    def compare(self, base_rows: list[dict], rows: list[dict], opts: TaskOptions) -> list[dict]:
        records = [mcnemar_accuracy(self.name, base_rows, rows, opts)]
        base_images = image_units(base_rows)[0]
        for metric, units in metric_units(image_units(rows)[0]).items():
            records.append(
                paired_metric_difference(self.name, metric, base_images, units, _mme_statistic, opts, n_per_unit=2)
            )
        return records


def metric_units(images: list[dict]) -> dict[str, list[dict]]:
    """Metric name → the images it is computed (and resampled) over: totals over every image of their
    group, ``<subtask>_score`` over that subtask's images only. Only what the images cover is listed."""
    from vlmq.metrics.mme import COGNITION, PERCEPTION

    units = {}
    for total, group in (("perception_total", PERCEPTION), ("cognition_total", COGNITION)):
        members = [image for image in images if image["category"] in group]
        if members:
            units[total] = members
    for subtask in PERCEPTION + COGNITION:
        members = [image for image in images if image["category"] == subtask]
        if members:
            units[f"{subtask}_score"] = members
    return units


def image_units(rows: list[dict]) -> tuple[list[dict], int]:
    """One unit per image whose two questions were both scored: ``{"sample_id", "category", "right"}``.

    ``sample_id`` is the image's question_id, so units pair across recipes like rows do; ``right``
    holds the two questions' correctness in sample-id order. Returns the
    units and the number of failed questions (an image with one failed question is left out whole,
    since MME scores only complete pairs).
    """
    scored, n_failed = split_failed(rows)
    by_image: dict[str, list[dict]] = {}
    for row in scored:
        by_image.setdefault(row["meta"]["question_id"], []).append(row)
    units = [
        {
            "sample_id": key,
            "category": group[0]["meta"]["category"],
            "score": _pair_score(group),
            "right": tuple(row["score"] == 1.0 for row in sorted(group, key=lambda r: r["sample_id"])),
        }
        for key, group in by_image.items()
        if len(group) == 2
    ]
    return units, n_failed


def _pair_score(pair: list[dict]) -> float:
    """The image's number of right answers (0-2); a unit needs a score to count as scored."""
    return float(sum(row["score"] for row in pair))


def _mme_statistic(images: list[dict]) -> dict:
    """images → {"perception_total", "cognition_total", "<subtask>_score"} via vlmq.metrics.mme."""
    from vlmq.metrics.mme import mme_scores_from_pairs

    pairs: dict[str, list[tuple[bool, bool]]] = {}
    for image in images:
        pairs.setdefault(image["category"], []).append(image["right"])
    scores = mme_scores_from_pairs(pairs)
    values = {f"{name}_score": entry["score"] for name, entry in scores["per_subtask"].items()}
    values.update(perception_total=scores["perception_total"], cognition_total=scores["cognition_total"])
    return values
