"""load_model: every source it resolves, and a one-line VlmqError naming the fix for every bad input."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import vlmq.models.loading as loading
from vlmq.errors import VlmqError
from vlmq.models import LoadedModel, Qwen2VLImageOnlyProcessor, load_model


def _copy(tiny_dir, dest):
    return shutil.copytree(tiny_dir, dest)


def _assert_one_line_error(exc_info, *fragments):
    message = str(exc_info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_local_folder_round_trips_weights_and_tokenizer(tiny_dir):
    loaded = load_model(str(tiny_dir), dtype=torch.float32)
    assert isinstance(loaded, LoadedModel)
    assert (loaded.source, loaded.family, loaded.random_weights) == ("local", "qwen2_vl", False)
    assert isinstance(loaded.processor, Qwen2VLImageOnlyProcessor)
    saved = load_file(tiny_dir / "model.safetensors")
    live = loaded.model.state_dict()
    # Checkpoint names are the hub's legacy ones (model.layers.*); live names nest under language_model.
    assert torch.equal(
        live["model.language_model.layers.1.mlp.down_proj.weight"], saved["model.layers.1.mlp.down_proj.weight"]
    )
    assert torch.equal(live["lm_head.weight"], saved["lm_head.weight"])
    reference = json.loads((tiny_dir / "tokenizer.json").read_text())["model"]["vocab"]
    assert loaded.processor.tokenizer.get_vocab() == {**reference, **loaded.processor.tokenizer.get_added_vocab()}


def test_default_dtype_is_bfloat16_and_model_is_in_eval_mode(tiny_dir):
    loaded = load_model(str(tiny_dir))
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    assert not loaded.model.training


def test_tiny_is_built_once_into_the_cache(isolated_cache):
    first = load_model("tiny")
    folder = isolated_cache / "tiny-tiny-0"
    assert (folder / "config.json").is_file() and first.source == "tiny" and first.random_weights
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    second = load_model("tiny")
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert torch.equal(first.model.lm_head.weight, second.model.lm_head.weight)


def test_stale_tiny_cache_is_rebuilt(isolated_cache, monkeypatch):
    load_model("tiny")
    stamp_file = isolated_cache / "tiny-tiny-0" / "vlmq_build.json"
    monkeypatch.setattr(loading, "TINY_BUILDER_VERSION", loading.TINY_BUILDER_VERSION + 1)
    load_model("tiny")
    assert json.loads(stamp_file.read_text())["builder_version"] == loading.TINY_BUILDER_VERSION


def test_a_concurrent_build_that_finishes_first_wins(isolated_cache, monkeypatch):
    import vlmq.models.tiny as tiny

    real_build = tiny.build_tiny_model

    def build_while_another_process_finishes_first(out_dir, **kwargs):
        monkeypatch.setattr(tiny, "build_tiny_model", real_build)
        winner = loading.cached_tiny_model("tiny")  # the "other process"
        (winner / "winner.txt").write_text("first")
        return real_build(out_dir, **kwargs)

    monkeypatch.setattr(tiny, "build_tiny_model", build_while_another_process_finishes_first)
    folder = loading.cached_tiny_model("tiny")
    assert (folder / "winner.txt").read_text() == "first"
    assert [p.name for p in isolated_cache.iterdir()] == [folder.name]  # no staging folder left behind


def test_toy_falls_back_to_tiny_with_a_warning_until_shipped(isolated_cache, tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "TOY_MODEL_DIR", tmp_path / "no-toy-here")
    with pytest.warns(UserWarning, match="toy model is not shipped"):
        loaded = load_model("toy")
    assert (loaded.name, loaded.source, loaded.random_weights) == ("toy", "tiny", True)


def test_toy_loads_the_shipped_folder_when_present(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "TOY_MODEL_DIR", _copy(tiny_dir, tmp_path / "toy"))
    loaded = load_model("toy")
    assert (loaded.source, loaded.random_weights) == ("toy", False)


def _fake_hub_cache(tiny_dir, root, repo_id):
    """Lay ``tiny_dir`` out as a Hugging Face hub cache entry for ``repo_id``."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(tiny_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return root


def test_hub_id_loads_from_the_hf_cache_offline(tiny_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    cache = _fake_hub_cache(tiny_dir, tmp_path / "hub", "acme/tiny-vl")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load_model("acme/tiny-vl")
    assert (loaded.name, loaded.source, loaded.family) == ("acme/tiny-vl", "hub", "qwen2_vl")


def test_hub_id_not_cached_offline_says_how_to_download(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(VlmqError) as exc_info:
        load_model("Qwen/Qwen2-VL-2B-Instruct")
    _assert_one_line_error(
        exc_info,
        "cannot download 'Qwen/Qwen2-VL-2B-Instruct'",
        "offline",
        "huggingface-cli download Qwen/Qwen2-VL-2B-Instruct --local-dir DIR",
        "--model DIR",
    )


def test_unreachable_hub_fails_fast_instead_of_retrying(tmp_path, monkeypatch):
    import time

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    start = time.monotonic()
    with pytest.raises(VlmqError) as exc_info:
        load_model("acme/absent-vl")
    assert time.monotonic() - start < 10
    _assert_one_line_error(exc_info, "cannot download 'acme/absent-vl'", "no network", "--local-dir DIR")


def test_missing_path_is_named(tmp_path):
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(tmp_path / "nowhere"))
    _assert_one_line_error(exc_info, "nowhere", "does not exist", "tiny")


def test_a_file_instead_of_a_folder_is_refused(tiny_dir):
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(tiny_dir / "config.json"))
    _assert_one_line_error(exc_info, "is not a folder", "config.json")


@pytest.mark.parametrize(
    "missing, named",
    [
        ("config.json", "config.json"),
        ("model.safetensors", "model.safetensors"),
        ("tokenizer.json", "tokenizer.json"),
    ],
)
def test_missing_file_is_named(tiny_dir, tmp_path, missing, named):
    folder = _copy(tiny_dir, tmp_path / "m")
    (folder / missing).unlink()
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(folder))
    _assert_one_line_error(exc_info, named)


def test_corrupt_weights_are_reported(tiny_dir, tmp_path):
    folder = _copy(tiny_dir, tmp_path / "corrupt")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(folder))
    _assert_one_line_error(exc_info, "cannot load the weights", "re-download")


def test_weights_that_do_not_cover_the_config_are_refused(tiny_dir, tmp_path):
    folder = _copy(tiny_dir, tmp_path / "deeper")
    config = json.loads((folder / "config.json").read_text())
    config["text_config"]["num_hidden_layers"] = 3  # the checkpoint has 2
    config["text_config"].pop("layer_types", None)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(folder))
    _assert_one_line_error(exc_info, "lacks", "layers.2", "config.json matches the weights")


def test_invalid_config_values_are_reported(tiny_dir, tmp_path):
    folder = _copy(tiny_dir, tmp_path / "invalid")
    config = json.loads((folder / "config.json").read_text())
    config["text_config"]["num_hidden_layers"] = 3  # contradicts the 2 layer_types it keeps
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(folder))
    _assert_one_line_error(exc_info, "config.json", "is invalid", "fix or re-download")


def test_unsupported_model_family_is_refused(tiny_dir, tmp_path):
    folder = _copy(tiny_dir, tmp_path / "llava")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "llava"}))
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(folder))
    _assert_one_line_error(exc_info, "model family 'llava' is not supported", "vlmq supports Qwen2-VL and Qwen2.5-VL")


def test_corrupt_config_is_reported(tiny_dir, tmp_path):
    folder = _copy(tiny_dir, tmp_path / "bad")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(folder))
    _assert_one_line_error(exc_info, "config.json", "not valid JSON")


def test_folder_without_image_processor_config_uses_defaults(tiny_dir, tmp_path):
    folder = _copy(tiny_dir, tmp_path / "noproc")
    (folder / "processor_config.json").unlink()
    with pytest.warns(UserWarning, match="default Qwen2-VL image processor"):
        loaded = load_model(str(folder))
    assert isinstance(loaded.processor, Qwen2VLImageOnlyProcessor)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"device": "tpu"}, "use 'cpu', 'cuda'"),
        ({"dtype": "int3"}, "use bfloat16, float16 or float32"),
        ({"max_pixels": 10}, "at least 784"),
        ({"min_pixels": 448 * 448, "max_pixels": 112 * 112}, "min_pixels <= max_pixels"),
    ],
)
def test_bad_options_are_refused(tiny_dir, kwargs, fragment):
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(tiny_dir), **kwargs)
    _assert_one_line_error(exc_info, fragment)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where CUDA is absent")
def test_cuda_without_a_gpu_names_the_fix(tiny_dir):
    with pytest.raises(VlmqError) as exc_info:
        load_model(str(tiny_dir), device="cuda")
    _assert_one_line_error(exc_info, "device='cpu'")


@pytest.mark.parametrize(
    "name, fragment",
    [("tiny-huge", "choose from: tiny, tiny-mid, tiny-small, tiny-qwen2.5"), ("", "model name is empty")],
)
def test_bad_names_list_the_choices(name, fragment):
    with pytest.raises(VlmqError) as exc_info:
        load_model(name)
    _assert_one_line_error(exc_info, fragment)


def _as_legacy_hub_folder(tiny_dir, dest):
    """Rewrite a tiny folder in the flat layout of the published Qwen2-VL checkpoints (transformers 4.x era):
    flat text fields, ``rope_scaling: {type: mrope}``, ``in_chans``, and an old ``preprocessor_config.json``."""
    folder = _copy(tiny_dir, dest)
    nested = json.loads((folder / "config.json").read_text())
    text = {k: v for k, v in nested["text_config"].items() if k not in ("rope_parameters", "model_type", "layer_types")}
    rope = nested["text_config"]["rope_parameters"]
    vision = {
        k: v for k, v in nested["vision_config"].items() if k not in ("model_type", "in_channels", "rope_parameters")
    }
    flat = {
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "model_type": "qwen2_vl",
        **text,
        "rope_theta": rope["rope_theta"],
        "rope_scaling": {"type": "mrope", "mrope_section": rope["mrope_section"]},
        "vision_config": {**vision, "in_chans": 3},
        **{k: nested[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")},
    }
    (folder / "config.json").write_text(json.dumps(flat))
    (folder / "processor_config.json").unlink()
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "min_pixels": 3136,
                "max_pixels": 12845056,
                "patch_size": 14,
                "temporal_patch_size": 2,
                "merge_size": 2,
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "image_processor_type": "Qwen2VLImageProcessor",
                "processor_class": "Qwen2VLProcessor",
            }
        )
    )
    return folder


def test_legacy_hub_layout_loads_with_the_same_weights_and_pixel_budget(tiny_dir, tmp_path):
    from PIL import Image

    legacy = load_model(str(_as_legacy_hub_folder(tiny_dir, tmp_path / "legacy")), dtype=torch.float32)
    modern = load_model(str(tiny_dir), dtype=torch.float32)
    assert legacy.model.config.get_text_config().rope_parameters["mrope_section"] == [2, 3, 3]
    for (name, a), b in zip(legacy.model.state_dict().items(), modern.model.state_dict().values()):
        assert torch.equal(a, b), name
    text = legacy.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "?"}]}], add_generation_prompt=True
    )
    image = Image.new("RGB", (640, 480), "red")
    ids = legacy.processor(text=[text], images=[image], return_tensors="pt")["input_ids"]
    assert int((ids == legacy.model.config.image_token_id).sum()) == 391  # the published max_pixels applies
    set_budget = load_model(str(tmp_path / "legacy"), max_pixels=448 * 448)
    ids = set_budget.processor(text=[text], images=[image], return_tensors="pt")["input_ids"]
    assert int((ids == set_budget.model.config.image_token_id).sum()) == 234
