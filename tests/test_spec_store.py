import sqlite3

import pytest

from vlmq.errors import VlmqError
from vlmq.spec import RunSpec, load_spec_file, spec_from_mapping
from vlmq.store import Store


def test_flags_and_toml_give_the_same_spec(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('model = "tiny"\nrecipes = ["bf16", "int8_wo"]\nlimit = 4\n')
    from_file = spec_from_mapping(load_spec_file(str(toml)))
    from_flags = spec_from_mapping({"model": "tiny", "recipes": "bf16,int8_wo", "limit": "4"})
    assert from_file == from_flags
    assert from_file.recipes == ("bf16", "int8_wo") and from_file.limit == 4


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"limit": "0"}, "'limit' must be a positive integer"),
        ({"limit": "-3"}, "'limit' must be a positive integer"),
        ({"limit": "many"}, "'limit' must be an integer"),
        ({"scoring": "strict"}, "accepted values: official, lmms_eval"),
        ({"device": "tpu"}, "accepted values: auto, cpu, cuda"),
        ({"recipes": ""}, "'recipes' is empty"),
        ({"batch_size": True}, "'batch_size' must be an integer"),
        ({"speed_batch_sizes": "1,x"}, "list of integers"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_bad_fields_name_the_field_and_the_fix(values, fragment):
    with pytest.raises(VlmqError, match=fragment.replace("(", r"\(")) as err:
        spec_from_mapping(values)
    assert "\n" not in str(err.value)


def test_wrong_type_in_toml_and_malformed_toml(tmp_path):
    bad_type = tmp_path / "t.toml"
    bad_type.write_text("limit = 'ten'\n")
    with pytest.raises(VlmqError, match="'limit' must be an integer"):
        spec_from_mapping(load_spec_file(str(bad_type)))
    broken = tmp_path / "b.toml"
    broken.write_text("model = \n")
    with pytest.raises(VlmqError, match="not valid TOML"):
        load_spec_file(str(broken))


def test_output_directory_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(VlmqError, match="is a file"):
        spec_from_mapping({"out": str(target)})


def test_identity_ignores_fields_that_do_not_change_results():
    a = RunSpec(out="a", quiet=True, batch_size=4)
    b = RunSpec(out="b", quiet=False, batch_size=8)
    assert a.identity_hash() == b.identity_hash()
    assert RunSpec(limit=3).identity_hash() != RunSpec(limit=4).identity_hash()


def test_store_keeps_one_row_per_sample_and_commits_immediately(tmp_path):
    store = Store(tmp_path)
    row = {"recipe": "bf16", "task": "t", "sample_id": "s1", "output": "yes", "score": 1.0, "meta": {"k": 1}}
    store.put_sample(row)
    store.put_sample({**row, "output": "no"})  # a duplicate is ignored, never stored twice
    # another connection sees the row at once: nothing waits for a final commit
    other = sqlite3.connect(tmp_path / "vlmq.sqlite")
    assert other.execute("SELECT COUNT(*), MAX(output) FROM samples").fetchone() == (1, "yes")
    assert store.samples("bf16", "t")[0]["meta"] == {"k": 1}
    assert store.done_ids("bf16", "t") == {"s1"}


def test_store_refuses_a_different_spec_and_fresh_clears(tmp_path):
    store = Store(tmp_path)
    assert store.bind_spec({"model": "tiny", "limit": 3}) is False
    assert store.bind_spec({"model": "tiny", "limit": 3}) is True
    store.put_sample({"recipe": "bf16", "task": "t", "sample_id": "s1"})
    with pytest.raises(VlmqError, match=r"different spec \(limit: 3 there, 4 now\).*--fresh"):
        store.bind_spec({"model": "tiny", "limit": 4})
    assert store.bind_spec({"model": "tiny", "limit": 4}, fresh=True) is False
    assert store.count_samples() == 0


def test_per_task_limits_override_the_global_limit():
    spec = spec_from_mapping({"limit": "10", "limits": "vqav2=500,pope=1500"})
    assert spec.limit_for("vqav2") == 500
    assert spec.limit_for("pope/random") == 1500  # a split inherits its family's limit
    assert spec.limit_for("mme") == 10
    with pytest.raises(VlmqError, match="write task=N"):
        spec_from_mapping({"limits": "vqav2=lots"})


def test_shipped_original_study_spec_is_valid():
    from vlmq.pipeline import expand_recipes

    spec = spec_from_mapping(load_spec_file("original-study"))
    assert spec.model == "Qwen/Qwen2-VL-2B-Instruct"
    assert spec.limit_for("vqav2") == 500 and spec.limit_for("pope") == 1500 and spec.limit_for("mme") is None
    recipes = expand_recipes(spec.recipes)
    for name in ("bf16", "int8_wo", "int4_wo", "smoothquant", "fp8", "int4_awq", "fp8+kv_fp8_text"):
        assert name in recipes
