"""POPE: the official free-text parser's traps, lmms-eval's exact match, and zero denominators."""

import pytest

from vlmq.errors import VlmqError
from vlmq.metrics.pope import UndefinedMetric, parse_label, parse_yes_no, pope_metrics, pope_metrics_from_parsed


@pytest.mark.parametrize(
    ("text", "official", "lmms_eval"),
    [
        ("No", "no", "no"),
        ("no", "no", "no"),
        ("Yes", "yes", "yes"),
        ("NO", "yes", "no"),  # official matches No/no/not exactly
        ("Nope", "yes", "other"),
        ("None", "yes", "other"),
        ("1. No", "yes", "other"),  # cut at the first "." leaves "1"
        ("Yes, no doubt", "no", "other"),  # "," deleted, then the token "no"
        ("no\n", "yes", "no"),  # official splits on " " only: the token is "no\n"
        ("", "yes", "other"),
        ("Not sure", "yes", "other"),  # "Not" is not in the official list
        ("I'm not sure", "no", "other"),
        ("There is no dog. Yes.", "no", "other"),
        ("No.", "no", "other"),
        ("Yes.", "yes", "other"),
        ("  yes  ", "yes", "yes"),
        ("no,", "no", "other"),
    ],
)
def test_parse_yes_no(text, official, lmms_eval):
    assert parse_yes_no(text, "official") == official
    assert parse_yes_no(text, "lmms_eval") == lmms_eval


def test_official_metrics_hand_computed():
    predictions = ["Yes", "No", "NO", "1. No", "Yes, no doubt", "no\n", ""]
    labels = ["yes", "no", "no", "no", "yes", "yes", "yes"]
    # parsed: yes no yes yes no yes yes -> TP 3 (0, 5, 6), FP 2 (2, 3), TN 1 (1), FN 1 (4)
    metrics = pope_metrics(predictions, labels, "official")
    precision, recall = 3 / 5, 3 / 4
    assert metrics == pytest.approx(
        {
            "accuracy": 4 / 7,
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall),
            "yes_ratio": 5 / 7,
        }
    )


def test_lmms_eval_metrics_hand_computed():
    predictions = ["Yes", "No", "NO", "Yes.", "no", " yes\n", "maybe"]
    labels = ["yes", "no", "no", "yes", "yes", "no", "no"]
    # parsed: yes no no other no yes other -> TP 1, FP 1, TN 2, FN 1; "other" only hurts accuracy
    metrics = pope_metrics(predictions, labels, "lmms_eval")
    assert metrics == pytest.approx(
        {
            "accuracy": 3 / 7,
            "precision": 1 / 2,
            "recall": 1 / 2,
            "f1": 1 / 2,
            "yes_ratio": 2 / 7,
        }
    )


def test_lmms_eval_punctuated_answers_zero_every_metric():
    metrics = pope_metrics(["Yes.", "No."] * 5, ["yes", "no"] * 5, "lmms_eval")
    assert metrics == {"accuracy": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0, "yes_ratio": 0.0}


def test_yes_ratio_is_the_prediction_ratio_not_lmms_evals_ground_truth_ratio():
    # lmms-eval would report 0.5 here (its yes_ratio counts ground-truth labels); we report predictions.
    for mode in ("official", "lmms_eval"):
        assert pope_metrics(["yes"] * 4, ["yes", "no", "yes", "no"], mode)["yes_ratio"] == 1.0


@pytest.mark.parametrize(
    ("predictions", "labels", "what"),
    [
        (["No", "no"], ["yes", "no"], "precision"),  # nothing predicted yes
        (["Yes", "No"], ["no", "no"], "recall"),  # no yes label
        (["No", "Yes"], ["yes", "no"], "F1"),  # TP = 0, so precision + recall = 0
    ],
)
def test_official_zero_denominators_raise_like_the_official_code(predictions, labels, what):
    with pytest.raises(UndefinedMetric, match=what) as info:
        pope_metrics(predictions, labels, "official")
    assert isinstance(info.value, ZeroDivisionError) and isinstance(info.value, VlmqError)
    assert pope_metrics(predictions, labels, "lmms_eval")["f1"] == 0.0


def test_labels_are_validated_per_mode():
    assert parse_label("Yes ", "lmms_eval") == "yes"
    with pytest.raises(VlmqError, match="not 'yes' or 'no'"):
        parse_label("Yes", "official")
    with pytest.raises(VlmqError, match="not 'yes' or 'no'"):
        pope_metrics(["yes"], ["maybe"], "lmms_eval")


@pytest.mark.parametrize(
    ("predictions", "labels", "message"),
    [
        (["yes", "no"], ["yes"], "2 predictions for 1 labels"),
        ([], [], "no predictions"),
        ([None], ["yes"], "must be a string"),
    ],
)
def test_bad_input_raises_vlmq_error(predictions, labels, message):
    with pytest.raises(VlmqError, match=message):
        pope_metrics(predictions, labels)


def test_from_parsed_equals_full_scoring():
    predictions, labels = ["Yes", "No", "Yes, no", "NO", "Yes"], ["yes", "no", "yes", "no", "no"]
    parsed = [parse_yes_no(text) for text in predictions]
    assert pope_metrics_from_parsed(parsed, labels) == pope_metrics(predictions, labels)
