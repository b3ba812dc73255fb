"""LLaVA-Bench (in-the-wild): the 60 (image, question) pairs used as the speed workload.

A prompt set: answers are generated and stored but not scored (its GPT-judge scoring is out of scope). Prompt: the bare
question, no suffix; ``max_new_tokens=4096`` and greedy as in lmms-eval ``llava-in-the-wild.yaml``
(generation normally stops at EOS long before). The full split must have 60 rows; a limit keeps
the category mix (conv / detail / complex).
"""

from __future__ import annotations

from vlmq.engine.types import Prompt
from vlmq.tasks.base import Sample, columns
from vlmq.tasks.sampled import DatasetTask
from vlmq.tasks.sources import HubSource

LLAVA_BENCH_COLUMNS = ("question_id", "question", "image", "caption", "gpt_answer", "category", "image_id")
LLAVA_BENCH_SOURCE = HubSource(
    folder="llava_bench", repo="llava-bench-in-the-wild", split="train", columns=LLAVA_BENCH_COLUMNS, expected_rows=60
)


class LlavaBenchTask(DatasetTask):
    """LLaVA-Bench in-the-wild: 60 open-ended prompts, the speed workload (answers stored, not scored)."""

    max_new_tokens = 4096

    def __init__(self, name: str = "llava_bench", source: HubSource = LLAVA_BENCH_SOURCE):
        self.name, self.source = name, source

    def strata(self, table) -> list[tuple[str, ...]]:
        return columns(table, ("category",))

    def make_sample(self, row: dict, image) -> Sample:
        meta = {"question_id": row["question_id"], "category": row["category"], "image_id": row["image_id"]}
        return Sample(
            id=str(row["question_id"]), prompt=Prompt(row["question"], image), target=row["gpt_answer"], meta=meta
        )
