"""Task behaviour: registry, prompts, preprocessing, failed samples, scores, records, paired tests."""

import io

import pytest
from PIL import Image

from vlmq.errors import VlmqError
from vlmq.tasks import TaskOptions, fixtures, get_task, list_tasks
from vlmq.tasks.images import prepare_image

from .conftest import score_rows

SUFFIX = "\nAnswer the question using a single word or phrase."


def _opts(folder, **kwargs):
    return TaskOptions(dataset_dir=str(folder), **kwargs)


def _within(record):
    return record["ci_low"] <= record["value"] <= record["ci_high"]


def test_registry_lists_every_task_with_its_generation_settings():
    tasks = {task.name: task for task in list_tasks()}
    assert {
        "vqav2",
        "pope",
        "pope/random",
        "pope/popular",
        "pope/adversarial",
        "mme",
        "llava_bench",
        "shapes-vqa",
        "shapes-pope",
        "shapes-mme",
    } <= set(tasks)
    assert (tasks["vqav2"].max_new_tokens, tasks["pope"].max_new_tokens, tasks["mme"].max_new_tokens) == (16, 128, 16)
    assert tasks["llava_bench"].headline is None and tasks["mme"].headline.metric == "perception_total"
    assert tasks["mme"].sharded and not tasks["speed"].sharded
    assert get_task("mme/count").name == "mme/count"


@pytest.mark.parametrize(
    "name, fix",
    [
        ("vqa-v2", "choose from: vqav2"),
        ("pope/rand", "adversarial, popular, random"),
        ("mme/counting", "existence, count"),
        ("shapes-pope/x", "random"),
    ],
)
def test_unknown_task_split_or_subtask_lists_the_valid_ones(name, fix):
    with pytest.raises(VlmqError, match=fix):
        get_task(name)


def test_bad_options_are_rejected():
    with pytest.raises(VlmqError, match="choose from: official, lmms_eval"):
        TaskOptions(scoring="strict")
    with pytest.raises(VlmqError, match="jpeg_quality"):
        TaskOptions(jpeg_quality=0)


def test_prompts_follow_lmms_eval(dataset_dir):
    opts = _opts(dataset_dir)
    vqa = get_task("vqav2").load(opts)[0]
    assert vqa.prompt.text == "is there a thing number 0?" + SUFFIX and len(vqa.target) == 10
    pope = get_task("pope/random").load(opts)[0]
    assert pope.prompt.text == "Is there a dog in the image?" + SUFFIX and pope.target == "yes"
    mme = get_task("mme").load(opts)[0]
    assert mme.prompt.text == "Is this existence item 0 red?" + SUFFIX and mme.id == "existence/0000.png#0"
    bench = get_task("llava_bench").load(opts)[0]
    assert bench.prompt.text == "Describe what you see in picture 0."


def test_jpeg_quality_reencodes_and_is_recorded(dataset_dir):
    plain = get_task("vqav2").load(_opts(dataset_dir, limit=2))
    jpeg = get_task("vqav2").load(_opts(dataset_dir, limit=2, jpeg_quality=30))
    assert plain[0].meta["image_preprocess"] == "none" and jpeg[0].meta["image_preprocess"] == "jpeg_q30"
    assert plain[0].prompt.image.tobytes() != jpeg[0].prompt.image.tobytes()
    assert jpeg[0].prompt.image.size == plain[0].prompt.image.size and jpeg[0].prompt.image.mode == "RGB"


def test_reencoding_matches_a_pil_jpeg_round_trip():
    image = Image.open(io.BytesIO(fixtures.png_bytes(3)))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    expected = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    prepared, error = prepare_image({"bytes": fixtures.png_bytes(3), "path": None}, 85)
    assert error is None and prepared.tobytes() == expected.tobytes()


def test_a_truncated_image_becomes_a_failed_sample(tmp_path):
    fixtures.write_table(fixtures.vqav2_table(6, truncated=(2,)), tmp_path / "vqav2", "validation", "parquet")
    task, opts = get_task("vqav2"), _opts(tmp_path)
    samples = task.load(opts)
    failed = [sample for sample in samples if sample.failed]
    assert [sample.id for sample in failed] == ["1002"]
    assert failed[0].prompt.image is None and "truncated" in failed[0].meta["error"]
    rows = score_rows(task, samples, ["yes"] * len(samples), opts)
    assert rows[2]["failed"] and rows[2]["score"] is None and "truncated" in rows[2]["error"]
    (record,) = task.aggregate(rows, opts)
    assert record["n"] == 5 and record["n_failed"] == 1 and record["image_preprocess"] == "none"


def test_vqav2_scores_soft_accuracy_and_aggregates_one_record(dataset_dir):
    task, opts = get_task("vqav2"), _opts(dataset_dir)
    samples = task.load(opts)
    outputs = [sample.target[0] if i % 3 else "other thing" for i, sample in enumerate(samples)]
    rows = score_rows(task, samples, outputs, opts)
    assert {row["score"] for row in rows} == {1.0, 0.9}  # 7 of 10 humans agree / 3 of 10 agree
    assert task.score(samples[2], "Two.", opts)["parsed"] == "2"
    (record,) = task.aggregate(rows, opts)
    assert (record["task"], record["metric"], record["n"], record["test"], record["mode"]) == (
        "vqav2",
        "accuracy",
        24,
        "bootstrap95",
        "official",
    )
    assert record["value"] == pytest.approx(sum(row["score"] for row in rows) / 24) and _within(record)


def test_stratified_limit_keeps_the_answer_type_mix(dataset_dir):
    samples = get_task("vqav2").load(_opts(dataset_dir, limit=12, seed=5))
    types = [sample.meta["answer_type"] for sample in samples]
    assert (types.count("yes/no"), types.count("number"), types.count("other")) == (6, 4, 2)
    again = get_task("vqav2").load(_opts(dataset_dir, limit=12, seed=5))
    assert [sample.id for sample in again] == [sample.id for sample in samples]


def test_pope_limit_keeps_splits_and_yes_no_balance(dataset_dir):
    samples = get_task("pope").load(_opts(dataset_dir, limit=12))
    cells = [(sample.meta["category"], sample.target) for sample in samples]
    assert all(
        cells.count((split, label)) == 2 for split in ("random", "popular", "adversarial") for label in ("yes", "no")
    )


def test_mme_limit_keeps_both_questions_of_an_image(dataset_dir):
    samples = get_task("mme").load(_opts(dataset_dir, limit=7, seed=2))
    images = [sample.meta["question_id"] for sample in samples]
    assert len(samples) == 8 and all(images.count(image) == 2 for image in images)
    assert {sample.id.split("#")[1] for sample in samples} == {"0", "1"}


def _pope_outputs(samples):
    # Right on 3 of 4 questions, always in the official free-text style.
    return [
        sample.target.capitalize() + "." if i % 4 else ("No, there is not." if sample.target == "yes" else "Yes")
        for i, sample in enumerate(samples)
    ]


def test_pope_records_pooled_and_per_split_with_intervals(dataset_dir):
    task, opts = get_task("pope"), _opts(dataset_dir)
    samples = task.load(opts)
    rows = score_rows(task, samples, _pope_outputs(samples), opts)
    records = task.aggregate(rows, opts)
    names = {(record["task"], record["metric"]) for record in records}
    assert names == {
        (task_name, metric)
        for task_name in ("pope", "pope/random", "pope/popular", "pope/adversarial")
        for metric in ("accuracy", "precision", "recall", "f1", "yes_ratio")
    }
    pooled = {record["metric"]: record for record in records if record["task"] == "pope"}
    assert pooled["accuracy"]["value"] == pytest.approx(0.75) and pooled["accuracy"]["n"] == 24
    assert all(_within(record) for record in pooled.values())


def test_pope_lmms_eval_mode_scores_punctuated_answers_wrong(dataset_dir):
    task, opts = get_task("pope/random"), _opts(dataset_dir, scoring="lmms_eval")
    samples = task.load(opts)
    rows = score_rows(task, samples, [sample.target.capitalize() + "." for sample in samples], opts)
    assert all(row["score"] == 0.0 for row in rows)
    accuracy = next(r for r in task.aggregate(rows, opts) if r["metric"] == "accuracy")
    assert accuracy["value"] == 0.0 and accuracy["mode"] == "lmms_eval"


def test_mme_records_points_per_subtask_and_totals(dataset_dir):
    task, opts = get_task("mme"), _opts(dataset_dir)
    samples = task.load(opts)
    # Every "Yes" question right, every "No" question answered "Yes": acc 50%, acc+ 0% -> 50 points.
    rows = score_rows(task, samples, ["Yes"] * len(samples), opts)
    records = {record["metric"]: record for record in task.aggregate(rows, opts)}
    assert set(records) == {
        "perception_total",
        "cognition_total",
        "existence_score",
        "count_score",
        "OCR_score",
        "commonsense_reasoning_score",
        "code_reasoning_score",
    }
    assert records["count_score"]["value"] == pytest.approx(50.0) and records["count_score"]["n"] == 6
    assert records["perception_total"]["value"] == pytest.approx(150.0)
    assert records["cognition_total"]["value"] == pytest.approx(100.0)
    assert all(_within(record) for record in records.values())


def test_mme_interval_resamples_images(dataset_dir):
    task, opts = get_task("mme"), _opts(dataset_dir)
    samples = task.load(opts)
    # Images alternate all-right / all-wrong, so the score varies only between images.
    outputs = [
        sample.target if (i // 2) % 2 else ("No" if sample.target == "Yes" else "Yes")
        for i, sample in enumerate(samples)
    ]
    records = {r["metric"]: r for r in task.aggregate(score_rows(task, samples, outputs, opts), opts)}
    total = records["perception_total"]
    assert total["ci_low"] < total["value"] < total["ci_high"]


@pytest.mark.parametrize("name", ["vqav2", "pope", "mme"])
def test_compare_on_identical_rows_gives_zero_delta(dataset_dir, name):
    task, opts = get_task(name), _opts(dataset_dir)
    samples = task.load(opts)
    outputs = ["yes" if i % 3 else "no" for i in range(len(samples))]
    rows = score_rows(task, samples, outputs, opts)
    records = task.compare(rows, rows, opts)
    assert records and all(record["delta"] == 0 and record["p_value"] == pytest.approx(1.0) for record in records)
    assert all({"task", "metric", "delta", "ci_low", "ci_high", "p_value", "test", "n"} <= set(r) for r in records)


def test_compare_detects_a_worse_recipe(dataset_dir):
    task, opts = get_task("pope"), _opts(dataset_dir)
    samples = task.load(opts)
    base = score_rows(task, samples, [sample.target for sample in samples], opts)
    worse = score_rows(task, samples, ["yes"] * len(samples), opts)
    accuracy = next(r for r in task.compare(base, worse, opts) if r["task"] == "pope" and r["metric"] == "accuracy")
    assert accuracy["delta"] == pytest.approx(-0.5) and accuracy["p_value"] < 0.01
    assert accuracy["test"].startswith("mcnemar") and accuracy["ci_high"] < 0


def test_compare_without_shared_samples_names_the_fix(dataset_dir):
    task, opts = get_task("vqav2"), _opts(dataset_dir)
    samples = task.load(opts)
    rows = score_rows(task, samples, ["yes"] * len(samples), opts)
    with pytest.raises(VlmqError, match="same --limit and --seed"):
        task.compare(rows[:5], rows[5:], opts)


def test_prompt_set_stores_answers_unscored(dataset_dir):
    task = get_task("llava_bench")
    sample = task.load(_opts(dataset_dir, limit=3))[0]
    assert task.score(sample, " A red bus. ", TaskOptions()) == {"parsed": "A red bus.", "score": None}
    assert task.aggregate([], TaskOptions()) == [] and task.headline is None


@pytest.mark.parametrize("name, real", [("shapes-vqa", "vqav2"), ("shapes-pope", "pope"), ("shapes-mme", "mme")])
def test_shapes_tasks_are_the_same_classes_on_generated_data(name, real):
    task = get_task(name)
    assert type(task) is type(get_task(real)) and task.max_new_tokens == get_task(real).max_new_tokens
    samples = task.load(TaskOptions(limit=12, seed=1))
    assert len(samples) == 12 and all(sample.prompt.text.endswith(SUFFIX) for sample in samples)
    assert [s.id for s in samples] == [s.id for s in task.load(TaskOptions(limit=12, seed=1))]
    assert [s.id for s in samples] != [s.id for s in task.load(TaskOptions(limit=12, seed=2))]


def test_shapes_pope_reports_pooled_and_split_records():
    task, opts = get_task("shapes-pope"), TaskOptions(limit=30)
    samples = task.load(opts)
    rows = score_rows(task, samples, [sample.target for sample in samples], opts)
    records = task.aggregate(rows, opts)
    assert {record["task"] for record in records} == {
        "shapes-pope",
        "shapes-pope/random",
        "shapes-pope/popular",
        "shapes-pope/adversarial",
    }
    assert all(record["value"] == 1.0 for record in records if record["metric"] in ("accuracy", "f1"))


def test_a_limit_above_the_default_grows_a_shapes_split():
    assert len(get_task("shapes-pope/random").load(TaskOptions(limit=150))) == 150
