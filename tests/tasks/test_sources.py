"""Dataset adapters: local parquet / save_to_disk folders, schema checks, split errors, offline hub."""

import pytest

from vlmq.errors import VlmqError
from vlmq.tasks import TaskOptions, fixtures, get_task
from vlmq.tasks.mme import MME_SOURCE
from vlmq.tasks.sources import HubSource, load_table
from vlmq.tasks.vqav2 import VQAV2_SOURCE

SIZES = {"vqav2": 24, "pope": 24, "pope/random": 8, "mme": 30, "llava_bench": 60}


@pytest.mark.parametrize("name", sorted(SIZES))
@pytest.mark.parametrize("layout", ["dataset_dir", "disk_dataset_dir"])
def test_local_folders_load_in_both_layouts(name, layout, request):
    folder = request.getfixturevalue(layout)
    samples = get_task(name).load(TaskOptions(dataset_dir=str(folder)))
    assert len(samples) == SIZES[name]
    assert len({sample.id for sample in samples}) == len(samples)
    assert all(sample.prompt.image is not None and not sample.failed for sample in samples)


def test_pope_split_without_full_config_filters_the_pooled_split(disk_dataset_dir):
    samples = get_task("pope/popular").load(TaskOptions(dataset_dir=str(disk_dataset_dir)))
    assert {sample.meta["category"] for sample in samples} == {"popular"}


def test_hub_repository_names_are_accepted_as_folders(tmp_path):
    fixtures.write_table(
        fixtures.mme_table(images_per_subtask=1), tmp_path / "lmms-lab-encoder" / "MME", "test", "parquet"
    )
    assert len(get_task("mme").load(TaskOptions(dataset_dir=str(tmp_path)))) == 10


def test_a_missing_column_is_named(tmp_path):
    fixtures.write_table(
        fixtures.vqav2_table(6).remove_columns("answer_type"), tmp_path / "vqav2", "validation", "parquet"
    )
    with pytest.raises(VlmqError, match="lacks column\\(s\\) answer_type"):
        load_table(VQAV2_SOURCE, TaskOptions(dataset_dir=str(tmp_path)))


def test_an_unknown_split_lists_the_splits_found(tmp_path):
    fixtures.write_table(fixtures.mme_table(images_per_subtask=1), tmp_path / "mme", "train", "parquet")
    with pytest.raises(VlmqError, match="split 'test' of mme not found.*it has: train"):
        load_table(MME_SOURCE, TaskOptions(dataset_dir=str(tmp_path)))


def test_an_unknown_split_in_a_saved_datasetdict_lists_its_splits(tmp_path):
    fixtures.write_table(fixtures.mme_table(images_per_subtask=1), tmp_path / "mme", "validation", "save_to_disk")
    with pytest.raises(VlmqError, match="it has: validation"):
        load_table(MME_SOURCE, TaskOptions(dataset_dir=str(tmp_path)))


def test_missing_task_folder_and_missing_directory_name_the_fix(tmp_path):
    with pytest.raises(VlmqError, match="no vqav2 data under"):
        load_table(VQAV2_SOURCE, TaskOptions(dataset_dir=str(tmp_path)))
    with pytest.raises(VlmqError, match="does not exist; pass --dataset-dir"):
        load_table(VQAV2_SOURCE, TaskOptions(dataset_dir=str(tmp_path / "absent")))


def test_offline_hub_names_dataset_dir():
    # conftest sets HF_HUB_OFFLINE=1; a repository name that cannot be cached makes this independent
    # of what happens to be in the local hub cache.
    source = HubSource(folder="vqav2", repo="vlmq-test-never-cached", split="validation", columns=("question",))
    with pytest.raises(VlmqError, match="--dataset-dir"):
        load_table(source, TaskOptions())


def test_llava_bench_must_have_sixty_rows(tmp_path):
    fixtures.write_table(fixtures.llava_bench_table(59), tmp_path / "llava_bench", "train", "parquet")
    with pytest.raises(VlmqError, match="has 59 rows, expected 60"):
        get_task("llava_bench").load(TaskOptions(dataset_dir=str(tmp_path)))


def test_mme_data_with_an_unknown_subtask_lists_the_valid_ones(tmp_path):
    table = fixtures.mme_table(images_per_subtask=1, subtasks=("existence", "juggling"))
    fixtures.write_table(table, tmp_path / "mme", "test", "parquet")
    with pytest.raises(VlmqError, match="unknown subtask\\(s\\) juggling; valid: existence"):
        get_task("mme").load(TaskOptions(dataset_dir=str(tmp_path)))


def test_a_pope_split_absent_from_the_pooled_data_lists_the_categories(tmp_path):
    fixtures.write_table(fixtures.pope_table(2, splits=("random",)), tmp_path / "pope", "test", "parquet")
    with pytest.raises(VlmqError, match="no POPE rows with category 'popular'; the data has: random"):
        get_task("pope/popular").load(TaskOptions(dataset_dir=str(tmp_path)))


def test_hub_falls_back_to_the_lmms_lab_encoder_name(monkeypatch):
    tried = []

    def fake_load_dataset(repo, config, split):
        tried.append(repo)
        if repo.startswith("lmms-lab/"):
            raise ConnectionError("offline")
        return fixtures.mme_table(images_per_subtask=1)

    monkeypatch.setattr("datasets.load_dataset", fake_load_dataset)
    table = load_table(MME_SOURCE, TaskOptions())
    assert tried == ["lmms-lab/MME", "lmms-lab-encoder/MME"] and len(table) == 10


def test_the_broken_fixture_fails_one_sample_and_one_task(tmp_path):
    folder = fixtures.write_broken_dataset_dir(tmp_path)
    samples = get_task("vqav2").load(TaskOptions(dataset_dir=str(folder)))
    assert [sample.id for sample in samples if sample.failed] == ["1001"]
    with pytest.raises(VlmqError, match="lacks column\\(s\\) category"):
        get_task("mme").load(TaskOptions(dataset_dir=str(folder)))


def test_pope_split_prefers_the_full_config(tmp_path):
    fixtures.write_table(fixtures.pope_table(2), tmp_path / "pope", "test", "parquet")
    full_random = tmp_path / "pope" / "Full" / "random"
    full_random.mkdir(parents=True)
    fixtures.pope_table(5, splits=("random",)).to_parquet(str(full_random / "0000.parquet"))
    assert len(get_task("pope/random").load(TaskOptions(dataset_dir=str(tmp_path)))) == 5
    assert len(get_task("pope").load(TaskOptions(dataset_dir=str(tmp_path)))) == 6


def test_a_corrupt_parquet_file_names_the_fix(tmp_path):
    (tmp_path / "vqav2").mkdir()
    (tmp_path / "vqav2" / "validation-00000-of-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(VlmqError, match="cannot read lmms-lab/VQAv2 split validation.*fresh download"):
        load_table(VQAV2_SOURCE, TaskOptions(dataset_dir=str(tmp_path)))


def test_duplicate_question_ids_are_rejected(tmp_path):
    table = fixtures.vqav2_table(4)
    table = table.map(lambda row: {"question_id": 7})
    fixtures.write_table(table, tmp_path / "vqav2", "validation", "parquet")
    with pytest.raises(VlmqError, match="two samples with id '7'"):
        get_task("vqav2").load(TaskOptions(dataset_dir=str(tmp_path)))
