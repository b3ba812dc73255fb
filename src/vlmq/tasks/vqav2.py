"""VQAv2 (lmms-eval ``vqav2_val``) and its shapes twin ``shapes-vqa``.

Prompt ``"{question}\\nAnswer the question using a single word or phrase."``, greedy,
``max_new_tokens=16``. Per-sample score: VQA soft accuracy (`vlmq.metrics.vqa.vqa_accuracy`, in
the scoring mode of `TaskOptions.scoring`); metric ``accuracy`` is its mean as a fraction. A limit
keeps the answer-type mix exactly (largest remainder) and the question-type mix within each
answer type.
"""

from __future__ import annotations

from vlmq.engine.types import Prompt
from vlmq.tasks.base import Headline, Sample, TaskOptions, columns, failed_score, split_failed
from vlmq.tasks.sampled import DatasetTask
from vlmq.tasks.sources import HubSource, ShapesSource
from vlmq.tasks.uncertainty import bootstrap_mean, paired_mean_difference

SINGLE_WORD_SUFFIX = "\nAnswer the question using a single word or phrase."
VQAV2_COLUMNS = (
    "question_type",
    "multiple_choice_answer",
    "answers",
    "image_id",
    "answer_type",
    "question_id",
    "question",
    "image",
)
VQAV2_SOURCE = HubSource(folder="vqav2", repo="VQAv2", split="validation", columns=VQAV2_COLUMNS)
SHAPES_VQA_SOURCE = ShapesSource(kind="vqa", default_n=200, rows_per_n=1, columns=VQAV2_COLUMNS)


class VQATask(DatasetTask):
    """VQAv2-format visual QA, scored by VQA soft accuracy (metric: accuracy, fraction)."""

    max_new_tokens = 16
    headline = Headline("accuracy", 100.0, "%")

    def __init__(self, name: str, source: HubSource | ShapesSource):
        self.name, self.source = name, source

    def strata(self, table) -> list[tuple[str, ...]]:
        return columns(table, ("answer_type", "question_type"))

    def make_sample(self, row: dict, image) -> Sample:
        meta = {key: row[key] for key in ("question_id", "question_type", "answer_type", "image_id")}
        answers = [answer["answer"] for answer in row["answers"]]
        return Sample(
            id=str(row["question_id"]),
            prompt=Prompt(row["question"] + SINGLE_WORD_SUFFIX, image),
            target=answers,
            meta=meta,
        )

    def score(self, sample: Sample, output: str, opts: TaskOptions) -> dict:
        from vlmq.metrics.vqa import normalize_answer, vqa_accuracy

        if sample.failed:
            return failed_score(sample)
        return {
            "parsed": normalize_answer(output, mode=opts.scoring),
            "score": float(vqa_accuracy(output, sample.target, mode=opts.scoring)),
        }

    def aggregate(self, rows: list[dict], opts: TaskOptions) -> list[dict]:
        scored, n_failed = split_failed(rows)
        return [bootstrap_mean(self.name, "accuracy", [row["score"] for row in scored], opts, n_failed)]

    def compare(self, base_rows: list[dict], rows: list[dict], opts: TaskOptions) -> list[dict]:
        return [paired_mean_difference(self.name, "accuracy", base_rows, rows, opts)]
