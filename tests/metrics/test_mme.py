"""MME: the LaVIN regression fixture, the 4-character parser in both modes, pairing errors."""

import json
import pathlib

import pytest

from vlmq.errors import VlmqError
from vlmq.metrics.mme import COGNITION, PERCEPTION, mme_scores, pair_by_image, parse_mme_answer

LAVIN = json.loads((pathlib.Path(__file__).parent / "data" / "mme-lavin-official.json").read_text())


def lavin_records():
    return [
        {
            "question_id": item["question_id"],
            "category": item["subtask"],
            "answer": item["gt"],
            "prediction": item["prediction"],
        }
        for item in LAVIN["items"]
    ]


@pytest.mark.parametrize("mode", ["official", "lmms_eval"])  # scoring.md: on LaVIN both modes agree
def test_lavin_reproduces_the_official_tool(mode):
    scores = mme_scores(lavin_records(), mode)
    official = LAVIN["official"]
    assert list(scores["per_subtask"]) == list(PERCEPTION + COGNITION)
    for name, figures in official["per_subtask"].items():
        for key in ("acc", "acc_plus", "score"):
            assert scores["per_subtask"][name][key] == pytest.approx(figures[key], abs=1e-9), (name, key)
    assert scores["perception_total"] == pytest.approx(official["perception_total"], abs=1e-9)
    assert scores["cognition_total"] == pytest.approx(official["cognition_total"], abs=1e-9)
    assert round(scores["perception_total"], 2) == 963.61 and round(scores["cognition_total"], 2) == 249.64


@pytest.mark.parametrize(
    ("text", "official", "lmms_eval"),
    [
        ("Yes", "yes", "yes"),
        ("no", "no", "no"),
        ("Yesterday", "yes", "yes"),
        (".yes", "yes", "yes"),
        (" yes", "yes", "yes"),
        ("Not sure", "no", "no"),
        ("None", "no", "no"),
        ("nope", "no", "no"),
        ("Know", "no", "no"),
        ("Noon", "no", "no"),
        ("  no", "no", "no"),
        ("  yes", "other", "yes"),  # official: first 4 characters are "  ye"
        ("y", "other", "yes"),
        ("Y", "other", "yes"),
        ("n", "other", "no"),
        ("y.", "other", "yes"),
        ("...no", "other", "no"),
        ("I think yes", "other", "other"),
        ("The answer is no", "other", "other"),
        ("Yep", "other", "other"),
        ("x", "other", "other"),
        ("", "other", "other"),
    ],
)
def test_parse_mme_answer(text, official, lmms_eval):
    assert parse_mme_answer(text, "official") == official
    assert parse_mme_answer(text, "lmms_eval") == lmms_eval


def image(question_id, category, first, second):
    """Two records of one image: the first question's answer is Yes, the second's No."""
    return [
        {"question_id": question_id, "category": category, "answer": "Yes", "prediction": first},
        {"question_id": question_id, "category": category, "answer": "No", "prediction": second},
    ]


def test_hand_computed_subtask_and_totals():
    records = (
        image("existence/1.jpg", "existence", "Yes", "No")  # both right
        + image("existence/2.jpg", "existence", "Yes", "Yes")  # one right
        + image("code_reasoning/1.png", "code_reasoning", "y", "No")
    )  # official: "y" is other
    official = mme_scores(records, "official")
    assert official["per_subtask"]["existence"] == pytest.approx({"acc": 0.75, "acc_plus": 0.5, "score": 125.0})
    assert official["per_subtask"]["code_reasoning"] == pytest.approx({"acc": 0.5, "acc_plus": 0.0, "score": 50.0})
    assert official["perception_total"] == pytest.approx(125.0)
    assert official["cognition_total"] == pytest.approx(50.0)
    assert mme_scores(records, "lmms_eval")["cognition_total"] == pytest.approx(200.0)


def test_totals_of_absent_groups_are_none_not_zero():
    scores = mme_scores(image("OCR/1.jpg", "OCR", "Yes", "No"))
    assert list(scores["per_subtask"]) == ["OCR"]
    assert scores["perception_total"] == pytest.approx(200.0) and scores["cognition_total"] is None


def test_pairing_is_by_question_id_not_order():
    first, second = image("scene/1.jpg", "scene", "Yes", "No"), image("scene/2.jpg", "scene", "No", "No")
    interleaved = [first[0], second[0], first[1], second[1]]
    assert pair_by_image(interleaved) == {"scene": [(True, True), (False, True)]}


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (image("color/1.jpg", "color", "Yes", "No")[:1], "'color/1.jpg' \\(color\\) has 1 question"),
        (
            image("color/1.jpg", "color", "Yes", "No") + image("color/1.jpg", "color", "Yes", "No")[:1],
            "'color/1.jpg' \\(color\\) has 3 question",
        ),
        (
            image("x/1.jpg", "color", "Yes", "No")[:1] + image("x/1.jpg", "count", "Yes", "No")[1:],
            "'x/1.jpg' \\(color\\) has 1 question",
        ),  # one image id split across two subtasks
        ([], "no records"),
        ([{"question_id": "a", "category": "color", "answer": "Yes"}], "lacks prediction"),
        (image("a/1.jpg", "colour", "Yes", "No"), "unknown MME category 'colour'"),
        ([{**record, "answer": "maybe"} for record in image("color/1.jpg", "color", "Yes", "No")], "not Yes or No"),
        (["not a mapping"], "must be a mapping"),
    ],
)
def test_bad_records_raise_vlmq_error(records, message):
    with pytest.raises(VlmqError, match=message):
        mme_scores(records)
