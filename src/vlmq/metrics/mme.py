"""MME scores (``/work/shared/reference/scoring.md`` §3): per subtask ``acc`` (questions right) and
``acc_plus`` (images with both questions right), ``score = 100*acc + 100*acc_plus`` (max 200);
Perception sums the 10 perception subtasks (max 2000), Cognition the 4 cognition ones (max 800).

Answer parsing is the only difference between the modes:

- ``"official"`` (MME ``eval_tool/calculation.py``): lower-case, no strip; exactly "yes"/"no", else
  look at the first 4 characters: "yes" in them → yes, else "no" in them → no, else "other" (wrong).
  So " yes" is yes but "  yes" (two spaces), "Y" and "...no" are "other".
- ``"lmms_eval"`` (lmms-eval ``tasks/mme/utils.py``): lower-case, strip, delete every "."; then exact
  yes/no, a single "y"/"n", else the same 4-character rule.

The two questions of an image are paired by ``question_id`` (as lmms-eval does; the official tool
pairs consecutive lines of a file, which is the same thing on well-formed input).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vlmq.errors import VlmqError
from vlmq.metrics._common import check_scoring_mode

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
SUBTASKS = PERCEPTION + COGNITION
RECORD_KEYS = ("question_id", "category", "answer", "prediction")


def parse_mme_answer(text: str, mode: str = "official") -> str:
    """One MME response as ``"yes"``, ``"no"`` or ``"other"``."""
    check_scoring_mode(mode)
    if not isinstance(text, str):
        raise VlmqError(f"MME prediction must be a string, got {type(text).__name__}; decode the output first")
    answer = text.lower()
    if mode == "lmms_eval":
        answer = answer.strip().replace(".", "")
        if len(answer) == 1:
            return {"y": "yes", "n": "no"}.get(answer, "other")
    if answer in ("yes", "no"):
        return answer
    prefix = answer[:4]
    if "yes" in prefix:
        return "yes"
    return "no" if "no" in prefix else "other"


def parse_mme_label(answer: str, mode: str = "official") -> str:
    """The ground truth ("Yes"/"No" in lmms-lab/MME) as ``"yes"`` or ``"no"``."""
    check_scoring_mode(mode)
    label = answer.lower() if isinstance(answer, str) else answer
    if mode == "lmms_eval" and isinstance(label, str):
        label = label.strip().replace(".", "")
    if label not in ("yes", "no"):
        raise VlmqError(f"MME answer {answer!r} is not Yes or No; pass the dataset's 'answer' column")
    return label


def mme_scores(records: Iterable[Mapping], mode: str = "official") -> dict:
    """Score MME records, each a mapping with ``question_id, category, answer, prediction``.

    Returns ``{"per_subtask": {name: {"acc", "acc_plus", "score"}}, "perception_total",
    "cognition_total"}`` with subtasks in the official order. Only subtasks present count; a total
    whose group has no subtask present is ``None`` (not measured), never 0.
    """
    return mme_scores_from_pairs(pair_by_image(records, mode))


def pair_by_image(records: Iterable[Mapping], mode: str = "official") -> dict[str, list[tuple[bool, bool]]]:
    """``{subtask: [(first_right, second_right) per image]}``, images in order of first appearance.

    Every ``question_id`` must hold exactly two questions of one subtask.
    """
    check_scoring_mode(mode)
    by_image: dict[tuple[str, str], list[bool]] = {}
    for record in records:
        category, question_id = _check_record(record)
        right = parse_mme_answer(record["prediction"], mode) == parse_mme_label(record["answer"], mode)
        by_image.setdefault((category, question_id), []).append(right)
    if not by_image:
        raise VlmqError("MME got no records; score at least one image (two questions)")
    pairs: dict[str, list[tuple[bool, bool]]] = {}
    for (category, question_id), rights in by_image.items():
        if len(rights) != 2:
            raise VlmqError(
                f"MME question_id {question_id!r} ({category}) has {len(rights)} question(s), "
                "not 2; MME scores images in pairs, so keep both questions of every image"
            )
        pairs.setdefault(category, []).append((rights[0], rights[1]))
    return pairs


def mme_scores_from_pairs(pairs: Mapping[str, list[tuple[bool, bool]]]) -> dict:
    """Subtask scores and totals from per-image correctness pairs (as from :func:`pair_by_image`).

    Cheap enough to call once per bootstrap resample of images (see ``vlmq.metrics.stats``).
    """
    per_subtask = {name: _subtask_score(pairs[name]) for name in SUBTASKS if pairs.get(name)}
    return {
        "per_subtask": per_subtask,
        "perception_total": _group_total(per_subtask, PERCEPTION),
        "cognition_total": _group_total(per_subtask, COGNITION),
    }


def _subtask_score(image_pairs: list[tuple[bool, bool]]) -> dict:
    n_images = len(image_pairs)
    acc = sum(first + second for first, second in image_pairs) / (2 * n_images)
    acc_plus = sum(1 for first, second in image_pairs if first and second) / n_images
    # Summed as calculation.py does (task_score += acc*100, then += acc_plus*100), to the last bit.
    return {"acc": acc, "acc_plus": acc_plus, "score": 0 + acc * 100 + acc_plus * 100}


def _group_total(per_subtask: dict, group: tuple[str, ...]) -> float | None:
    present = [per_subtask[name]["score"] for name in group if name in per_subtask]
    return float(sum(present)) if present else None


def _check_record(record: Mapping) -> tuple[str, str]:
    if not isinstance(record, Mapping):
        raise VlmqError(f"MME record must be a mapping with keys {', '.join(RECORD_KEYS)}; got {type(record).__name__}")
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise VlmqError(
            f"MME record {dict(record)!r} lacks {', '.join(missing)}; give every record {', '.join(RECORD_KEYS)}"
        )
    if record["category"] not in SUBTASKS:
        raise VlmqError(f"unknown MME category {record['category']!r}; choose from: {', '.join(SUBTASKS)}")
    return record["category"], str(record["question_id"])
