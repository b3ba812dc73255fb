"""The shapes benchmarks: lmms-lab schemas, determinism, answers that need the image, scorer parity."""

import random
from collections import Counter, defaultdict

import pytest

from vlmq.data import shapes
from vlmq.errors import VlmqError

VQA_COLUMNS = [
    "question_type",
    "multiple_choice_answer",
    "answers",
    "image_id",
    "answer_type",
    "question_id",
    "question",
    "image",
]
POPE_COLUMNS = ["id", "question_id", "question", "answer", "image_source", "image", "category"]
MME_COLUMNS = ["question_id", "image", "question", "answer", "category"]


@pytest.fixture(scope="module")
def vqa():
    return shapes.make_dataset("vqa", 60, seed=7)


@pytest.fixture(scope="module")
def pope_rows():
    return shapes.make_rows("pope", 60, seed=7)


@pytest.fixture(scope="module")
def mme_rows():
    return shapes.make_rows("mme", 6, seed=7)


def test_vqa_schema_matches_lmms_lab(vqa):
    assert vqa.column_names == VQA_COLUMNS
    assert vqa.features["image"].__class__.__name__ == "Image"
    row = vqa[0]
    assert len(row["answers"]) == 10
    assert sorted(a["answer_id"] for a in row["answers"]) == list(range(1, 11))
    assert all(set(a) == {"answer", "answer_confidence", "answer_id"} for a in row["answers"])
    assert row["image"].size == (shapes.IMAGE_SIZE, shapes.IMAGE_SIZE)
    assert len(set(vqa["question_id"])) == len(vqa)
    assert set(vqa["answer_type"]) <= {"number", "other"}


def test_vqa_human_answers_vary_and_canonical_answer_scores_full(vqa):
    from vlmq.metrics.vqa import vqa_accuracy

    for row in vqa:
        humans = [a["answer"] for a in row["answers"]]
        assert len(set(humans)) > 1  # never unanimous: the official normalisation applies
        assert vqa_accuracy(row["multiple_choice_answer"], row["answers"], mode="official") == 1.0
        # chat models capitalise: "Red" must still score after normalisation
        assert vqa_accuracy(row["multiple_choice_answer"].capitalize(), row["answers"], mode="official") == 1.0


def test_datasets_are_deterministic_and_seed_dependent():
    a, b = shapes.make_rows("mme", 2, seed=3), shapes.make_rows("mme", 2, seed=3)
    c = shapes.make_rows("mme", 2, seed=4)
    assert [r["question"] for r in a] == [r["question"] for r in b]
    assert [r["image"].tobytes() for r in a] == [r["image"].tobytes() for r in b]
    assert [r["image"].tobytes() for r in a] != [r["image"].tobytes() for r in c]


def test_color_answers_are_drawn_in_the_image(vqa):
    checked = 0
    for row in vqa:
        if row["question_type"] == "what color is the":
            pixels = {rgb for _, rgb in row["image"].convert("RGB").getcolors(maxcolors=1 << 16)}
            assert shapes.COLORS[row["multiple_choice_answer"]] in pixels
            checked += 1
    assert checked >= 3


def test_blind_guessing_is_far_from_perfect(vqa):
    """The best constant answer per question type scores well under 50%: the image is needed."""
    by_type = defaultdict(list)
    for row in vqa:
        by_type[row["question_type"]].append(row["multiple_choice_answer"])
    blind_hits = sum(Counter(answers).most_common(1)[0][1] for answers in by_type.values())
    assert blind_hits / len(vqa) < 0.5


def test_pope_splits_are_balanced_and_per_split_sized(pope_rows):
    assert list(pope_rows[0]) == POPE_COLUMNS
    for split in shapes.POPE_SPLITS:
        labels = [r["answer"] for r in pope_rows if r["category"] == split]
        assert len(labels) == 60
        assert abs(labels.count("yes") - labels.count("no")) <= 1


def _category(row) -> tuple[str, str]:
    """(colour, shape) asked about in "Is there a(n) <colour> <shape> in the image?"."""
    color, shape = row["question"].split()[3:5]
    return color, shape


def _near_miss_share(rows, split):
    """Share of a split's negatives that share a colour or shape with a positive of the same image."""
    present_words = defaultdict(set)
    for r in rows:
        if r["answer"] == "yes":
            present_words[r["image_source"]].update(_category(r))
    negatives = [r for r in rows if r["category"] == split and r["answer"] == "no"]
    near = [r for r in negatives if set(_category(r)) & present_words[r["image_source"]]]
    return len(near) / len(negatives)


def test_pope_negatives_follow_popular_and_adversarial_sampling(pope_rows):
    freq = Counter(_category(r) for r in pope_rows if r["answer"] == "yes" and r["category"] == "random")

    def mean_freq(split):
        cats = [_category(r) for r in pope_rows if r["category"] == split and r["answer"] == "no"]
        return sum(freq[c] for c in cats) / len(cats)

    assert mean_freq("popular") > mean_freq("random")
    assert _near_miss_share(pope_rows, "adversarial") > _near_miss_share(pope_rows, "random")


def test_mme_pairs_one_yes_one_no_per_image(mme_rows):
    assert list(mme_rows[0]) == MME_COLUMNS
    groups = defaultdict(list)
    for r in mme_rows:
        groups[r["question_id"]].append(r)
        assert r["question"].endswith(" Please answer yes or no.")
        assert r["question_id"].startswith(r["category"] + "/")
    assert all(sorted(r["answer"] for r in g) == ["No", "Yes"] for g in groups.values())
    assert Counter(r["category"] for r in mme_rows) == {s: 12 for s in shapes.MME_SUBTASKS}


def test_canonical_answers_score_perfectly_with_the_official_scorers(pope_rows, mme_rows):
    from vlmq.metrics.mme import mme_scores
    from vlmq.metrics.pope import pope_metrics

    split = [r for r in pope_rows if r["category"] == "adversarial"]
    preds = [r["answer"].capitalize() for r in split]
    assert pope_metrics(preds, [r["answer"] for r in split], mode="official")["f1"] == 1.0
    records = [
        {**{k: r[k] for k in ("question_id", "category", "answer")}, "prediction": r["answer"]} for r in mme_rows
    ]
    scores = mme_scores(records, mode="official")
    assert all(v["score"] == 200 for v in scores["per_subtask"].values())


def test_training_stream_covers_all_question_kinds():
    stream = shapes.training_stream(0)
    triples = [next(stream) for _ in range(120)]
    answers = Counter(a for _, _, a in triples)
    assert answers["Yes"] > 10 and answers["No"] > 10
    assert any(q.endswith(shapes.MME_SUFFIX) for _, q, _ in triples)
    assert any(a in shapes.COLORS for a in answers) and any(a.isdigit() for a in answers)
    assert {"yes", "no"}.isdisjoint(answers)  # chat-model style capitalised yes/no only


@pytest.mark.parametrize("kind, n", [("coco", 3), ("vqa", 0), ("mme", -1), ("pope", 2.5)])
def test_bad_dataset_requests_raise_vlmq_error(kind, n):
    with pytest.raises(VlmqError):
        shapes.make_dataset(kind, n, seed=0)


def test_every_scene_names_shapes_uniquely():
    rng = random.Random(0)
    for _ in range(300):
        scene = shapes.sample_scene(rng)
        assert len(scene.categories()) == len(scene.shapes)
        cells = [s.cell for s in scene.shapes] + ([scene.word_cell] if scene.word else [])
        assert len(set(cells)) == len(cells)


def test_description_names_every_shape_and_the_word():
    rng = random.Random(3)
    for _ in range(20):
        scene = shapes.sample_scene(rng)
        text = shapes.describe(scene)
        for s in scene.shapes:
            assert f"{s.size} {s.color} {s.shape} {shapes.PLACE_PHRASE[s.cell]}" in text
        assert (scene.word is None) or f'"{scene.word}"' in text


def test_training_conversations_ask_everything_about_one_image():
    image, turns = next(shapes.training_conversations(5))
    assert image.size == (shapes.IMAGE_SIZE, shapes.IMAGE_SIZE)
    assert len(turns) == 7  # two open questions, a POPE pair, an MME pair, a description
    assert sorted(a for _, a in turns).count("Yes") == 2
