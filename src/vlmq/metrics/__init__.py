"""Pure scorers for VQAv2, POPE and MME (each in "official" and "lmms_eval" mode, see
``/work/shared/reference/scoring.md``) and the statistics for confidence intervals and paired tests."""

from vlmq.metrics._common import SCORING_MODES, UndefinedMetric, check_scoring_mode
from vlmq.metrics.mme import mme_scores, mme_scores_from_pairs, pair_by_image, parse_mme_answer, parse_mme_label
from vlmq.metrics.pope import parse_label, parse_yes_no, pope_metrics, pope_metrics_from_parsed
from vlmq.metrics.stats import (
    bootstrap_ci,
    bootstrap_ci_rows,
    bootstrap_intervals_rows,
    mcnemar,
    paired_bootstrap,
    paired_bootstrap_rows,
)
from vlmq.metrics.vqa import normalize_answer, vqa_accuracy

__all__ = [
    "SCORING_MODES",
    "UndefinedMetric",
    "check_scoring_mode",
    "vqa_accuracy",
    "normalize_answer",
    "pope_metrics",
    "pope_metrics_from_parsed",
    "parse_yes_no",
    "parse_label",
    "mme_scores",
    "mme_scores_from_pairs",
    "pair_by_image",
    "parse_mme_answer",
    "parse_mme_label",
    "bootstrap_ci",
    "bootstrap_ci_rows",
    "bootstrap_intervals_rows",
    "paired_bootstrap",
    "paired_bootstrap_rows",
    "mcnemar",
]
