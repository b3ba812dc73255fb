"""`vlmq toy train`: a tiny run on the CPU writes a loadable model folder; bad output folders are refused."""

import json

import pytest

from vlmq.errors import VlmqError
from vlmq.toy.train import main, train_toy


def test_tiny_training_run_writes_a_loadable_folder(tmp_path):
    from vlmq.models import load_model

    out = train_toy(tmp_path / "toy", steps=2, seed=1, device="cpu", batch_size=2)
    record = json.loads((out / "training.json").read_text())
    assert record["steps_done"] == 2 and record["settings"]["seed"] == 1
    loaded = load_model(str(out))
    assert type(loaded.model).__name__ == "Qwen2VLForConditionalGeneration"
    assert loaded.model.dtype.is_floating_point and str(loaded.model.dtype) == "torch.bfloat16"


def test_existing_output_folder_needs_force(tmp_path):
    out = tmp_path / "toy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(VlmqError, match="--force"):
        main(["--out", str(out), "--steps", "1", "--batch-size", "1", "--device", "cpu"])
    assert (out / "keep.txt").read_text() == "mine"


def test_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "model.txt"
    target.write_text("x")
    with pytest.raises(VlmqError, match="folder"):
        train_toy(target, steps=1, device="cpu", force=True)


@pytest.mark.parametrize("kwargs, fix", [({"steps": 0}, "--steps"), ({"device": "tpu"}, "--device"),
                                         ({"size": "huge"}, "choose from"), ({"turns": 0}, "--turns"),
                                         ({"init_from": "/nonexistent/toy"}, "--init-from")])
def test_bad_settings_name_the_fix(tmp_path, kwargs, fix):
    with pytest.raises(VlmqError, match=fix):
        train_toy(tmp_path / "toy", **kwargs)
