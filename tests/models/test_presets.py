"""Architecture presets: published shapes, instant meta instantiation, sane random weights."""

import time

import pytest
import torch
from PIL import Image

from vlmq.errors import VlmqError
from vlmq.models import SPECIAL_TOKENS, load_model, model_summary
from vlmq.models.loading import LoadedModel, model_class
from vlmq.models.presets import ARCH_PRESETS, ArchPreset, describe_preset, instantiate_on_meta, preset_config

# Essentials from each checkpoint's published config.json on the Hugging Face hub, and its parameter count.
PUBLISHED = {
    "qwen2-vl-2b": dict(layers=28, hidden=1536, heads=12, kv_heads=2, vocab=151936, tied=True, out=1536, billions=2.21),
    "qwen2-vl-7b": dict(
        layers=28, hidden=3584, heads=28, kv_heads=4, vocab=152064, tied=False, out=3584, billions=8.29
    ),
    "qwen2.5-vl-3b": dict(
        layers=36, hidden=2048, heads=16, kv_heads=2, vocab=151936, tied=True, out=2048, billions=3.75
    ),
    "qwen2.5-vl-7b": dict(
        layers=28, hidden=3584, heads=28, kv_heads=4, vocab=152064, tied=False, out=3584, billions=8.29
    ),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_config_matches_the_published_essentials(name):
    want = PUBLISHED[name]
    config = preset_config(name)
    text, vision = config.get_text_config(), config.vision_config
    got = dict(
        layers=text.num_hidden_layers,
        hidden=text.hidden_size,
        heads=text.num_attention_heads,
        kv_heads=text.num_key_value_heads,
        vocab=text.vocab_size,
        tied=config.tie_word_embeddings,
        out=getattr(vision, "out_hidden_size", vision.hidden_size),
    )
    assert got == {k: v for k, v in want.items() if k != "billions"}
    assert text.rope_parameters["mrope_section"] == [16, 24, 24]
    assert text.rope_parameters["rope_theta"] == 1e6
    if ARCH_PRESETS[name].family == "qwen2_5_vl":
        assert (vision.hidden_size, vision.intermediate_size, vision.window_size) == (1280, 3420, 112)
        assert list(vision.fullatt_block_indexes) == [7, 15, 23, 31]
    else:
        assert (vision.embed_dim, vision.mlp_ratio, vision.depth) == (1280, 4, 32)


# More of the same published config.json files: intermediate_size, max_position_embeddings, max_window_layers,
# and the checkpoint each preset follows.
PUBLISHED_TEXT = {
    "qwen2-vl-2b": (8960, 32768, 28, "Qwen/Qwen2-VL-2B-Instruct"),
    "qwen2-vl-7b": (18944, 32768, 28, "Qwen/Qwen2-VL-7B-Instruct"),
    "qwen2.5-vl-3b": (11008, 128000, 70, "Qwen/Qwen2.5-VL-3B-Instruct"),
    "qwen2.5-vl-7b": (18944, 128000, 28, "Qwen/Qwen2.5-VL-7B-Instruct"),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_TEXT))
def test_preset_text_config_matches_the_published_sizes_and_names_the_special_tokens(name):
    ids = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    config = preset_config(name, ids)
    text = config.get_text_config()
    got = (text.intermediate_size, text.max_position_embeddings, text.max_window_layers, ARCH_PRESETS[name].hub_id)
    assert got == PUBLISHED_TEXT[name]
    assert (text.rms_norm_eps, text.hidden_act, text.use_sliding_window) == (1e-6, "silu", False)
    assert (text.bos_token_id, text.eos_token_id, text.pad_token_id) == tuple(
        ids[t] for t in ("<|endoftext|>", "<|im_end|>", "<|endoftext|>")
    )
    assert (config.image_token_id, config.video_token_id, config.vision_start_token_id) == tuple(
        ids[t] for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>")
    )
    assert config.vision_end_token_id == ids["<|vision_end|>"]
    assert preset_config(name).image_token_id != config.image_token_id  # without ids: transformers' defaults


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_instantiates_on_meta_quickly_with_the_published_size(name):
    start = time.monotonic()
    model = instantiate_on_meta(name)
    assert time.monotonic() - start < 10
    assert next(model.parameters()).device.type == "meta"
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert params / 1e9 == pytest.approx(PUBLISHED[name]["billions"], abs=0.01)
    assert (model.lm_head.weight is model.model.language_model.embed_tokens.weight) == PUBLISHED[name]["tied"]


def test_describe_preset_states_sizes_and_origin():
    line = describe_preset("qwen2-vl-2b")
    assert "28 layers" in line and "hidden 1536" in line and "2.21 B" in line and "Qwen/Qwen2-VL-2B-Instruct" in line


def test_unknown_preset_names_the_choices():
    with pytest.raises(VlmqError, match="choose from: qwen2-vl-2b"):
        preset_config("qwen2-vl-72b")


# A scaled-down Qwen2.5-VL preset so the full build → init → generate path runs in a second on CPU.
MINI = ArchPreset(
    "qwen2_5_vl",
    "test/mini",
    text={
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "vocab_size": 1000,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [8, 12, 12]},
    },
    vision={
        "depth": 2,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_heads": 2,
        "out_hidden_size": 128,
        "fullatt_block_indexes": [1],
        "window_size": 112,
    },
    tie_word_embeddings=True,
)


@pytest.fixture
def mini_preset(monkeypatch):
    monkeypatch.setitem(ARCH_PRESETS, "mini-2.5", MINI)
    return "mini-2.5"


def test_preset_weights_look_trained_and_buffers_are_initialised(mini_preset):
    loaded = load_model(mini_preset)
    assert (loaded.source, loaded.family, loaded.random_weights) == ("preset", "qwen2_5_vl", True)
    model = loaded.model
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    layer = model.model.language_model.layers[0]
    assert layer.mlp.up_proj.weight.float().std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.all(layer.input_layernorm.weight == 1)
    assert torch.all(layer.self_attn.q_proj.bias == 0)
    # to_empty leaves buffers as garbage: the rotary tables must match a normally constructed model.
    reference = model_class("qwen2_5_vl")(preset_config(mini_preset))
    assert torch.allclose(
        model.model.language_model.rotary_emb.inv_freq, reference.model.language_model.rotary_emb.inv_freq
    )
    assert torch.allclose(model.model.visual.rotary_pos_emb.inv_freq, reference.model.visual.rotary_pos_emb.inv_freq)


def test_preset_processor_uses_the_published_pixel_budget(mini_preset):
    loaded = load_model(mini_preset)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "?"}]}]
    text = loaded.processor.apply_chat_template(msgs, add_generation_prompt=True)
    ids = loaded.processor(text=[text], images=[Image.new("RGB", (1500, 1000))], return_tensors="pt")["input_ids"]
    # 1500x1000 fits under max_pixels 12845056: rounded to 1512x1008 = 54x36 merged patches
    # (transformers' lower default max_pixels would shrink it to 1247 tokens).
    assert int((ids == loaded.model.config.image_token_id).sum()) == 1944


def test_preset_builds_are_deterministic(mini_preset):
    first, second = load_model(mini_preset), load_model(mini_preset)
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()))


def test_preset_generates_from_an_image_prompt(mini_preset):
    loaded = load_model(mini_preset, max_pixels=112 * 112)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe."}]}]
    text = loaded.processor.apply_chat_template(msgs, add_generation_prompt=True)
    inputs = loaded.processor(text=[text], images=[Image.new("RGB", (112, 112), "gray")], return_tensors="pt")
    assert int((inputs["input_ids"] == loaded.model.config.image_token_id).sum()) == 16
    with torch.no_grad():
        out = loaded.model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


def test_summary_of_a_tied_preset_counts_shared_weights_once():
    model = instantiate_on_meta("qwen2-vl-2b")
    summary = model_summary(LoadedModel(model, None, "qwen2-vl-2b", "qwen2_vl", "preset", True))
    params = summary["params"]
    final_norm = model.model.language_model.norm.weight.numel()
    assert summary["config"]["tied"] is True
    assert params["total"] == params["decoder_layers"] + params["vision"] + params["embeddings"] + final_norm
    assert summary["config"]["head_dim"] == 128 and summary["config"]["kv_heads"] == 2


@pytest.mark.gpu
def test_a_2b_preset_is_built_directly_on_the_gpu_in_seconds():
    start = time.monotonic()
    loaded = load_model("qwen2-vl-2b", device="cuda")
    assert time.monotonic() - start < 60
    assert {p.device.type for p in loaded.model.parameters()} == {"cuda"}
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    weight = loaded.model.model.language_model.layers[5].mlp.down_proj.weight
    assert weight.float().std().item() == pytest.approx(0.02, rel=0.05)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe."}]}]
    text = loaded.processor.apply_chat_template(msgs, add_generation_prompt=True)
    inputs = loaded.processor(text=[text], images=[Image.new("RGB", (224, 224), "gray")], return_tensors="pt").to(
        "cuda"
    )
    with torch.no_grad():
        out = loaded.model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4
