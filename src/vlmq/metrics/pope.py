"""POPE yes/no metrics (``/work/shared/reference/scoring.md`` §2), "yes" being the positive class.

- ``"official"``: AoiDragon/POPE ``evaluate.py`` (LLaVA ``eval_pope.py`` uses the same rule). Free
  text is parsed: cut at the first ".", delete ",", split on a single space, and the answer is "no"
  iff a token is exactly ``No``, ``not`` or ``no``; everything else, even "NO", "Nope" or "", is
  "yes". Where the official code divides by zero (nothing predicted "yes", no "yes" label, or no
  true positive so that F1 is 0/0) we raise :class:`UndefinedMetric`, a VlmqError that is also a
  ZeroDivisionError, rather than invent a value.
- ``"lmms_eval"``: lmms-eval ``tasks/pope/utils.py``. No parsing: ``output.lower().strip()`` must be
  exactly "yes" or "no" (anything else, e.g. "Yes.", is wrong and drops out of precision and
  recall); zero denominators give 0. lmms-eval's ``pope_yes_ratio`` is computed from the
  *ground-truth* labels (always 0.5 on POPE), a bug we do not copy: ``yes_ratio`` here is always the
  share of *predictions* parsed as "yes", in both modes.
"""

from __future__ import annotations

from collections.abc import Sequence

from vlmq.errors import VlmqError
from vlmq.metrics._common import UndefinedMetric, check_scoring_mode

# What parse_yes_no returns for an lmms_eval answer that is not exactly yes/no.
OTHER = "other"
_OFFICIAL_NO_TOKENS = ("No", "not", "no")


def parse_yes_no(text: str, mode: str = "official") -> str:
    """One POPE answer as ``"yes"``, ``"no"`` or (lmms_eval mode only) ``"other"``."""
    check_scoring_mode(mode)
    if not isinstance(text, str):
        raise VlmqError(f"POPE prediction must be a string, got {type(text).__name__}; decode the output first")
    if mode == "lmms_eval":
        answer = text.lower().strip()
        return answer if answer in ("yes", "no") else OTHER
    first_sentence = text.split(".")[0]
    words = first_sentence.replace(",", "").split(" ")  # a single space: "\n" is not a separator
    return "no" if any(token in words for token in _OFFICIAL_NO_TOKENS) else "yes"


def parse_label(label: str, mode: str = "official") -> str:
    """A POPE ground-truth label as ``"yes"`` or ``"no"``.

    Official POPE files hold exactly "yes"/"no"; lmms-eval lower-cases and strips first. Anything
    else is rejected (the official code would silently count any non-"no" label as positive).
    """
    check_scoring_mode(mode)
    normalised = label.lower().strip() if mode == "lmms_eval" and isinstance(label, str) else label
    if normalised not in ("yes", "no"):
        raise VlmqError(f"POPE label {label!r} is not 'yes' or 'no'; pass the dataset's 'answer' column")
    return normalised


def pope_metrics(predictions: Sequence[str], labels: Sequence[str], mode: str = "official") -> dict:
    """accuracy, precision, recall, f1 and yes_ratio (fractions) of free-text ``predictions``
    against ``labels``, paired by position as POPE's README requires."""
    check_scoring_mode(mode)
    parsed = [parse_yes_no(text, mode) for text in predictions]
    return pope_metrics_from_parsed(parsed, [parse_label(label, mode) for label in labels], mode)


def pope_metrics_from_parsed(parsed: Sequence[str], labels: Sequence[str], mode: str = "official") -> dict:
    """The five metrics from already-parsed answers ("yes"/"no"/"other") and labels ("yes"/"no").

    Cheap enough to call once per bootstrap resample (see ``vlmq.metrics.stats``).
    """
    check_scoring_mode(mode)
    if len(parsed) != len(labels):
        raise VlmqError(
            f"POPE got {len(parsed)} predictions for {len(labels)} labels; "
            "pass one prediction per label, in the same order"
        )
    if not parsed:
        raise VlmqError("POPE got no predictions; score at least one sample")
    tp = sum(1 for p, g in zip(parsed, labels) if p == "yes" and g == "yes")
    fp = sum(1 for p, g in zip(parsed, labels) if p == "yes" and g == "no")
    tn = sum(1 for p, g in zip(parsed, labels) if p == "no" and g == "no")
    fn = sum(1 for p, g in zip(parsed, labels) if p == "no" and g == "yes")
    divide = _divide_or_raise if mode == "official" else _divide_or_zero
    precision = divide(tp, tp + fp, "precision: no answer was parsed as 'yes'")
    recall = divide(tp, tp + fn, "recall: no label is 'yes'")
    f1 = divide(2 * precision * recall, precision + recall, "F1: no true positive, so precision + recall = 0")
    return {
        "accuracy": (tp + tn) / len(parsed),  # "other" answers count as wrong
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": sum(1 for p in parsed if p == "yes") / len(parsed),
    }


def _divide_or_raise(numerator, denominator, what: str) -> float:
    if denominator == 0:
        raise UndefinedMetric(
            f"POPE {what} (the official evaluate.py raises ZeroDivisionError here); "
            "check the outputs, or score with mode='lmms_eval', which reports 0"
        )
    return float(numerator) / float(denominator)


def _divide_or_zero(numerator, denominator, what: str) -> float:
    return numerator / denominator if denominator > 0 else 0.0
