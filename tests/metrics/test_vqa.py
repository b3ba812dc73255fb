"""VQAv2 soft accuracy: every trap of scoring.md §1 and §6, hand-computed, in both modes."""

import random

import pytest

from vlmq.errors import VlmqError
from vlmq.metrics.vqa import CONTRACTIONS, normalize_answer, process_digit_article, process_punctuation, vqa_accuracy


def humans(*groups):
    """Ten human answers from (answer, count) groups, padded with distinct filler answers."""
    answers = [text for text, count in groups for _ in range(count)]
    return answers + [f"filler{i}" for i in range(10 - len(answers))]


# (prediction, answers, official, lmms_eval)
CASES = {
    # Unanimity gate: no normalisation at all when the ten answers are identical (official only).
    "gate_capitalised": ("Yes", ["yes"] * 10, 0.0, 1.0),
    "gate_number_word": ("two", ["2"] * 10, 0.0, 1.0),
    "gate_double_space": ("fire  hydrant", ["fire hydrant"] * 10, 0.0, 1.0),
    "gate_still_cleans": ("yes\n", ["yes"] * 10, 1.0, 1.0),
    "gate_exact_match": ("yes", ["yes"] * 10, 1.0, 1.0),
    "gate_off_when_mixed": ("YES", humans(("yes", 9)), 1.0, 1.0),
    # Leave-one-out: k matching humans give 0, 0.3, 0.6, 0.9, 1.0 (not min(k/3, 1)).
    "k0": ("cat", humans(), 0.0, 0.0),
    "k1": ("cat", humans(("cat", 1)), 0.3, 0.3),
    "k2": ("cat", humans(("cat", 2)), 0.6, 0.6),
    "k3": ("cat", humans(("cat", 3)), 0.9, 0.9),
    "k4": ("cat", humans(("cat", 4)), 1.0, 1.0),
    # Digit-comma-digit deletes punctuation, "1, 2" keeps a space.
    "comma_between_digits": ("1,2", humans(("12", 2), ("1 2", 1)), 0.6, 0.6),
    "comma_then_space": ("1, 2", humans(("12", 2), ("1 2", 1)), 0.3, 0.3),
    "repeated_comma": ("1,,2", humans(("12", 4)), 0.0, 1.0),
    "repeated_comma_spaced": ("1,,2", humans(("1 2", 3)), 0.9, 0.0),
    "hyphen_to_space": ("t-shirt", humans(("t shirt", 3)), 0.9, 0.9),
    "hyphen_deleted_with_digit_comma": ("1,000 t-shirts", humans(("1000 tshirts", 4)), 1.0, 1.0),
    # Periods: only those not followed by a digit, and at most 32 of them.
    "period_32_removed": ("yes" + "." * 32, humans(("yes", 4)), 1.0, 1.0),
    "period_33_keeps_one": ("yes" + "." * 33, humans(("yes", 4)), 0.0, 0.0),
    "decimal_kept": ("2.5", humans(("25", 4)), 0.0, 0.0),
    # Number words: none -> 0; nothing above ten.
    "none_is_zero": ("none", humans(("0", 4)), 1.0, 1.0),
    "eleven_unmapped": ("eleven", humans(("11", 4)), 0.0, 0.0),
    # Contractions: "dont" expands, "Im" never does (its key has a capital).
    "dont_expands": ("dont", humans(("don't", 4)), 1.0, 1.0),
    "Im_not_expanded": ("Im", humans(("i'm", 4)), 0.0, 0.0),
    "Im_is_im": ("Im", humans(("im", 4)), 1.0, 1.0),
    # Articles: a human answer "a" becomes "", which the prediction "A" then matches.
    "article_human_answer": ("A", humans(("a", 3)), 0.9, 0.9),
    "article_dropped": ("a red car", humans(("red car", 4)), 1.0, 1.0),
}


@pytest.mark.parametrize("mode", ["official", "lmms_eval"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_hand_computed_accuracy(case, mode):
    prediction, answers, official, lmms_eval = CASES[case]
    expected = official if mode == "official" else lmms_eval
    assert vqa_accuracy(prediction, answers, mode) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "official", "lmms_eval"),
    [
        ("1,2", "12", "12"),
        ("1, 2", "1 2", "1 2"),
        ("1,,2", "1 2", "12"),
        ("1,000 t-shirts", "1000 tshirts", "1000 tshirts"),
        ("t-shirt", "t shirt", "t shirt"),
        ("red - blue", "red blue", "red blue"),
        ("u.s.a.", "usa", "usa"),
        ("5.", "5", "5"),
        ("2.5", "2.5", "2.5"),
        (".5", ".5", ".5"),
        ("10:30", "10:30", "10:30"),
        ("50%", "50%", "50%"),
        ("$5", "$5", "$5"),
        ("#1", "#1", "#1"),
        ("Man's hat!", "man's hat", "man's hat"),
        ("The  Oclock\tTower\n", "o'clock tower", "o'clock tower"),
        ("None of them", "0 of them", "0 of them"),
        ("an", "", ""),
    ],
)
def test_normalize_answer(text, official, lmms_eval):
    assert normalize_answer(text, "official") == official
    assert normalize_answer(text, "lmms_eval") == lmms_eval


def test_contraction_table_is_the_official_size_and_apostrophe_forms():
    assert len(CONTRACTIONS) == 120
    assert CONTRACTIONS["oclock"] == "o'clock" and CONTRACTIONS["cant"] == "can't"
    assert all("\u2019" not in key + value for key, value in CONTRACTIONS.items())  # straight quotes only


def test_answers_as_dicts_with_ids_score_like_strings():
    answers = humans(("cat", 2), ("Cat!", 1))
    dicts = [{"answer": text, "answer_confidence": "yes", "answer_id": i + 1} for i, text in enumerate(answers)]
    assert vqa_accuracy("cat", dicts) == vqa_accuracy("cat", answers) == pytest.approx(0.9)


def test_identical_answer_dicts_are_all_left_out_together_as_in_the_official_code():
    # vqaEval.py removes answer i with `item != gtAnsDatum` on dicts: without distinct answer_ids every
    # equal dict goes, leaving no match. Plain strings are left out by position instead.
    assert vqa_accuracy("yes", [{"answer": "yes"}] * 10) == 0.0
    assert vqa_accuracy("yes", ["yes"] * 10) == 1.0


@pytest.mark.parametrize(
    ("prediction", "answers", "message"),
    [
        ("yes", [], "non-empty list"),
        ("yes", "yes", "non-empty list"),
        ("yes", [{"text": "yes"}], "'answer' key"),
        ("yes", [3], "must be a string"),
        (None, ["yes"], "must be a string"),
    ],
)
def test_bad_input_raises_vlmq_error(prediction, answers, message):
    with pytest.raises(VlmqError, match=message):
        vqa_accuracy(prediction, answers)


def test_unknown_mode_names_the_choices():
    with pytest.raises(VlmqError, match="official, lmms_eval"):
        vqa_accuracy("yes", ["yes"], mode="vqa_old")


def _reference_evaluate(prediction, answer_texts, mode):
    """A literal transcription of the a013f00 / lmms-eval 0.4.1 evaluate() loop (mutating answer
    dicts, leave-one-out by dict inequality), cross-checking the control flow of vqa_accuracy."""
    gts = [{"answer": text, "answer_id": i} for i, text in enumerate(answer_texts)]
    for ans in gts:
        ans["answer"] = ans["answer"].replace("\n", " ").replace("\t", " ").strip()
    res = prediction.replace("\n", " ").replace("\t", " ").strip()
    if mode == "lmms_eval" or len(set(ans["answer"] for ans in gts)) > 1:
        for ans in gts:
            ans["answer"] = process_digit_article(process_punctuation(ans["answer"], mode))
        res = process_digit_article(process_punctuation(res, mode))
    accs = []
    for held_out in gts:
        others = [item for item in gts if item != held_out]
        accs.append(min(1, float(len([item for item in others if item["answer"] == res])) / 3))
    return float(sum(accs)) / len(accs)


@pytest.mark.parametrize("mode", ["official", "lmms_eval"])
def test_random_adversarial_cases_follow_the_reference_loop(mode):
    pieces = [
        "yes",
        "Yes",
        "no",
        "2",
        "two",
        "1,2",
        "1, 2",
        "a",
        "the",
        "dont",
        "none",
        "0",
        "t-shirt",
        "t shirt",
        "u.s.a.",
        "usa",
        "5.",
        " x ",
        "\tred\n",
        "red",
        "1,,2",
        "12",
        "(c)",
        "c",
    ]
    rng = random.Random(0)
    for _ in range(300):
        answers = [rng.choice(pieces) for _ in range(10)] if rng.random() < 0.8 else [rng.choice(pieces)] * 10
        prediction = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 2)))
        assert vqa_accuracy(prediction, answers, mode) == pytest.approx(
            _reference_evaluate(prediction, answers, mode), abs=1e-12
        )
