"""`vlmq toy train`: a tiny CPU run writes a loadable model folder; bad settings and output folders are
refused with the fix named, before anything is removed; the pool trainer's device-side inputs equal what
the processor, `get_rope_index` and the HF vision attention give."""

import json
import random

import numpy as np
import pytest
import torch

from vlmq.errors import VlmqError
from vlmq.models import load_model
from vlmq.toy import ToyTrainSettings, train_toy
from vlmq.toy.train import main

# A handful of scenes of the small "toy" size, two steps, one rendering process, no evaluation.
TINY = {
    "size": "toy",
    "scenes": 4,
    "workers": 1,
    "steps": 2,
    "batch_size": 2,
    "eval_n": 0,
    "device": "cpu",
    "pool_seconds": None,
    "max_seconds": None,
    "warmup": 1,
}


def existing_folder(tmp_path):
    out = tmp_path / "toy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    return out


def test_tiny_training_run_writes_a_loadable_folder(tmp_path):
    out = train_toy(tmp_path / "toy", ToyTrainSettings(seed=1, **TINY))
    record = json.loads((out / "training.json").read_text())
    assert record["steps_done"] == 2 and record["settings"]["seed"] == 1
    assert record["pool_scenes"] == 4 and record["pool_rows"] == 40  # ten single-turn rows per scene
    assert record["device_name"] == "cpu" and not (out / "eval.json").exists()
    loaded = load_model(str(out))
    assert type(loaded.model).__name__ == "Qwen2VLForConditionalGeneration"
    assert loaded.model.dtype == torch.bfloat16 and loaded.model.config.text_config.hidden_size == 128


@pytest.mark.parametrize(
    "flags, fix",
    [
        (["--steps", "0"], "--steps 1"),
        (["--batch-size", "0"], "--batch-size 1"),
        (["--scenes", "0"], "--scenes 1"),
        (["--workers", "0"], "--workers 1"),
        (["--size", "huge"], "--size with one of: toy, mid"),
        (["--device", "tpu"], "'cpu', 'cuda'"),
        (["--init-from", "/nonexistent/toy"], "--init-from"),
    ],
)
def test_bad_settings_name_the_fix_and_leave_the_folder_alone(tmp_path, flags, fix):
    out = existing_folder(tmp_path)
    with pytest.raises(VlmqError, match=fix):
        main(["--out", str(out), "--force", *flags])  # --force: the folder would be replaced if checks came later
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_names_the_cpu():
    with pytest.raises(VlmqError, match="--device cpu"):
        ToyTrainSettings(device="cuda")


def test_existing_output_folder_needs_force(tmp_path):
    out = existing_folder(tmp_path)
    with pytest.raises(VlmqError, match="--force"):
        train_toy(out, ToyTrainSettings(**TINY))
    assert (out / "keep.txt").read_text() == "mine"


def test_output_path_that_is_a_file_or_the_init_folder_is_refused(tmp_path):
    target = tmp_path / "model.txt"
    target.write_text("x")
    with pytest.raises(VlmqError, match="folder path for --out"):
        train_toy(target, ToyTrainSettings(**TINY), force=True)
    assert target.read_text() == "x"
    source = existing_folder(tmp_path)
    (source / "config.json").write_text("{}")
    with pytest.raises(VlmqError, match="new folder for --out"):
        train_toy(source, ToyTrainSettings(**{**TINY, "init_from": str(source)}), force=True)
    assert (source / "keep.txt").read_text() == "mine"


def test_vlmq_toy_train_refuses_an_existing_folder_without_force(tmp_path, capsys):
    from vlmq.cli import main as vlmq_main

    out = existing_folder(tmp_path)
    assert vlmq_main(["toy", "train", "--out", str(out), "--device", "cpu"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    assert vlmq_main(["toy", "evaluate"]) == 2


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from transformers import Qwen2VLForConditionalGeneration

    from vlmq.data.shapes import corpus
    from vlmq.models.processor import Qwen2VLImageOnlyProcessor
    from vlmq.models.tiny import build_tiny_model
    from vlmq.toy.train import MODEL_SIZES

    preset, overrides = MODEL_SIZES["toy"]
    folder = build_tiny_model(
        tmp_path_factory.mktemp("m") / "m", preset=preset, corpus=corpus(), config_overrides=overrides
    )
    processor = Qwen2VLImageOnlyProcessor.from_pretrained(folder)
    return Qwen2VLForConditionalGeneration.from_pretrained(folder, dtype=torch.float32), processor


def test_pool_training_inputs_match_the_processor_and_hf_positions(small_model):
    """The device-side patchify, shared M-RoPE positions and batched vision attention give exactly what
    the processor, get_rope_index and the HF vision attention give."""
    from PIL import Image
    from transformers.models.qwen2_vl import modeling_qwen2_vl

    from vlmq.toy.pool import patchify, row_positions, scene_rows
    from vlmq.toy.vision_attention import batched_vision_attention

    model, processor = small_model
    rng = random.Random(0)
    scenes = [scene_rows(rng, processor) for _ in range(4)]
    images = torch.from_numpy(np.stack([image for image, _ in scenes]))
    expected = processor.image_processor(images=[Image.fromarray(image) for image, _ in scenes], return_tensors="pt")
    assert torch.equal(patchify(images), expected["pixel_values"])
    ids = torch.tensor(scenes[0][1][0][0]).unsqueeze(0)
    hf, _ = model.model.get_rope_index(
        ids, (ids == model.config.image_token_id).int(), image_grid_thw=torch.tensor([[1, 8, 8]])
    )
    assert torch.equal(row_positions(ids[0], model.config.image_token_id), hf[:, 0])
    original = modeling_qwen2_vl.VisionAttention.forward
    with batched_vision_attention(model, expected["pixel_values"], expected["image_grid_thw"]) as batched:
        assert batched and modeling_qwen2_vl.VisionAttention.forward is not original
    assert modeling_qwen2_vl.VisionAttention.forward is original  # restored after the block


def test_widening_the_mlp_keeps_the_function(small_model):
    import copy

    from vlmq.toy.train import widen_mlp_

    model, _ = small_model
    wide = copy.deepcopy(model)
    assert widen_mlp_(wide, 96) == 288  # 256 channels -> the next multiple of 96
    mlp, wide_mlp = model.model.language_model.layers[0].mlp, wide.model.language_model.layers[0].mlp
    assert wide_mlp.down_proj.in_features == 288 and wide.config.text_config.intermediate_size == 288
    x = torch.randn(3, model.config.text_config.hidden_size)
    with torch.no_grad():
        assert torch.allclose(mlp(x), wide_mlp(x), atol=1e-6)


def test_every_training_setting_is_a_typed_flag_with_the_settings_default():
    from vlmq.toy.train import build_parser

    args = vars(build_parser().parse_args(["--out", "x"]))
    del args["out"], args["force"]
    assert ToyTrainSettings(**args) == ToyTrainSettings()
    given = vars(build_parser().parse_args(["--out", "x", "--pool-seconds", "5", "--eval-n", "3", "--init-from", "m"]))
    assert (given["pool_seconds"], given["eval_n"], given["init_from"]) == (5.0, 3, "m")
    assert type(given["pool_seconds"]) is float and "held-out questions" in build_parser().format_help()
