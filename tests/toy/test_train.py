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


def test_pool_training_inputs_match_the_processor_and_hf_positions(tmp_path):
    """pool_train's device-side patchify, shared M-RoPE positions and batched vision attention give
    exactly what the processor, get_rope_index and the HF vision attention give."""
    import random

    import numpy as np
    import torch
    from PIL import Image
    from transformers import Qwen2VLForConditionalGeneration

    from vlmq.data.shapes import corpus
    from vlmq.models.processor import Qwen2VLImageOnlyProcessor
    from vlmq.models.tiny import build_tiny_model
    from vlmq.toy import pool_train
    from vlmq.toy.train import MODEL_SIZES

    preset, overrides = MODEL_SIZES["toy"]
    folder = build_tiny_model(tmp_path / "m", preset=preset, corpus=corpus(), config_overrides=overrides)
    processor = Qwen2VLImageOnlyProcessor.from_pretrained(folder)
    model = Qwen2VLForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    rng = random.Random(0)
    scenes = [pool_train.scene_rows(rng, processor) for _ in range(4)]
    images = torch.from_numpy(np.stack([image for image, _ in scenes]))
    expected = processor.image_processor(images=[Image.fromarray(image) for image, _ in scenes],
                                         return_tensors="pt")["pixel_values"]
    assert torch.equal(pool_train.patchify(images), expected)
    ids = torch.tensor(scenes[0][1][0][0]).unsqueeze(0)
    hf, _ = model.model.get_rope_index(ids, (ids == model.config.image_token_id).int(),
                                       image_grid_thw=torch.tensor([[1, 8, 8]]))
    assert torch.equal(pool_train.row_positions(ids[0], model.config.image_token_id), hf[:, 0])
    from transformers.models.qwen2_vl import modeling_qwen2_vl

    original = modeling_qwen2_vl.VisionAttention.forward
    try:
        assert pool_train._check_fast_attention(model, images, "cpu")
    finally:
        modeling_qwen2_vl.VisionAttention.forward = original


def test_vlmq_toy_train_refuses_an_existing_folder_without_force(tmp_path, capsys):
    from vlmq.cli import main as vlmq_main

    out = tmp_path / "toy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert vlmq_main(["toy", "train", "--out", str(out), "--device", "cpu"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert vlmq_main(["toy", "evaluate"]) == 2
