"""The offline tiny builder: determinism, tokenizer, chat template, processor, generation."""

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from vlmq.errors import VlmqError
from vlmq.models import SPECIAL_TOKENS, build_tiny_model, load_model, train_tokenizer
from vlmq.models.tiny import mrope_section_for, tiny_config, tiny_config_dict

REFERENCE_RENDER = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    "<|vision_start|><|image_pad|><|vision_end|>What is this?<|im_end|>\n<|im_start|>assistant\n"
)
IMAGE_QUESTION = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}]


def test_same_seed_builds_identical_weights_and_tokenizer(tmp_path, tiny_dir):
    again = build_tiny_model(tmp_path / "again", seed=0)
    first, second = load_file(tiny_dir / "model.safetensors"), load_file(again / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert (tiny_dir / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


def test_other_seed_gives_other_weights(tmp_path, tiny_dir):
    other = load_file(build_tiny_model(tmp_path / "seed1", seed=1) / "model.safetensors")
    base = load_file(tiny_dir / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"  # saved under the hub checkpoint names
    assert not torch.equal(base[name], other[name])


def test_building_does_not_disturb_the_callers_rng(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(tmp_path / "m", seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_special_tokens_are_ids_0_to_6_and_text_round_trips():
    tok = train_tokenizer()
    assert tok.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == list(range(7))
    text = "Is there a dog in the image? 图片里有什么？ Yes."
    assert tok.decode(tok(text).input_ids) == text
    assert type(tok).__name__ in ("Qwen2Tokenizer", "Qwen2TokenizerFast")
    marked = "".join(SPECIAL_TOKENS) + "Yes."
    assert tok(marked).input_ids[:7] == list(range(7))  # each special token stays one token
    assert tok.decode(tok(marked).input_ids, skip_special_tokens=True) == "Yes."


def test_tokenizer_trained_on_a_custom_corpus_learns_its_words():
    corpus = ["zebra giraffe okapi"] * 50
    tok = train_tokenizer(corpus, vocab_size=300)
    assert len(tok) <= 300  # training stops early once the corpus has no pair left to merge
    assert len(tok("zebra giraffe okapi").input_ids) < len(train_tokenizer()("zebra giraffe okapi").input_ids)


@pytest.mark.parametrize("corpus, vocab_size", [([], 512), (["ok", 3], 512), (None, 100)])
def test_bad_tokenizer_inputs_raise_vlmq_error(corpus, vocab_size):
    with pytest.raises(VlmqError):
        train_tokenizer(corpus, vocab_size=vocab_size)


def test_chat_template_renders_like_qwen2_vl_instruct():
    tok = train_tokenizer()
    assert tok.apply_chat_template(IMAGE_QUESTION, tokenize=False, add_generation_prompt=True) == REFERENCE_RENDER


def test_chat_template_system_turn_string_content_and_vision_ids():
    tok = train_tokenizer()
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Same?"}]},
        {"role": "assistant", "content": "Yes."},
    ]
    rendered = tok.apply_chat_template(msgs, tokenize=False, add_vision_id=True)
    assert rendered == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
        "Picture 1: <|vision_start|><|image_pad|><|vision_end|>Picture 2: <|vision_start|><|image_pad|><|vision_end|>"
        "Same?<|im_end|>\n<|im_start|>assistant\nYes.<|im_end|>\n"
    )


def test_saved_folder_looks_like_a_hub_checkpoint(tiny_dir):
    names = {p.name for p in tiny_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "processor_config.json",
        "chat_template.jinja",
        "generation_config.json",
    } <= names
    assert json.loads((tiny_dir / "processor_config.json").read_text())["processor_class"] == "Qwen2VLProcessor"
    config = json.loads((tiny_dir / "config.json").read_text())
    text = config["text_config"]
    assert sum(text["rope_parameters"]["mrope_section"]) == text["hidden_size"] // text["num_attention_heads"] // 2
    assert config["vision_config"]["hidden_size"] == text["hidden_size"]
    assert config["image_token_id"] == SPECIAL_TOKENS.index("<|image_pad|>")


@pytest.mark.parametrize(
    "size, max_pixels, expected_tokens",
    [
        ((224, 224), 448 * 448, 64),  # 16x16 patches, merged 2x2
        ((224, 224), 112 * 112, 16),  # resized down to 112x112
        ((640, 480), 448 * 448, 234),  # 640 wide x 480 high, resized to 504x364 = 18*13 merged tokens
    ],
)
def test_processor_emits_one_image_token_per_merged_patch(tiny_dir, size, max_pixels, expected_tokens):
    loaded = load_model(str(tiny_dir), max_pixels=max_pixels)
    text = loaded.processor.apply_chat_template(IMAGE_QUESTION, add_generation_prompt=True)
    inputs = loaded.processor(text=[text], images=[Image.new("RGB", size, (90, 140, 30))], return_tensors="pt")
    image_tokens = int((inputs["input_ids"] == loaded.model.config.image_token_id).sum())
    assert image_tokens == expected_tokens == int(inputs["image_grid_thw"].prod()) // 4
    assert torch.equal(inputs["mm_token_type_ids"].bool(), inputs["input_ids"] == loaded.model.config.image_token_id)


def test_generate_on_the_tiny_model(tiny_dir):
    loaded = load_model(str(tiny_dir))
    text = loaded.processor.apply_chat_template(IMAGE_QUESTION, add_generation_prompt=True)
    inputs = loaded.processor(text=[text], images=[Image.new("RGB", (56, 84), "white")], return_tensors="pt")
    with torch.no_grad():
        out = loaded.model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    new_tokens = out[0, inputs["input_ids"].shape[1] :]
    assert new_tokens.numel() == 4
    assert int(new_tokens.max()) < loaded.model.config.get_text_config().vocab_size
    assert isinstance(loaded.processor.batch_decode(out[:, inputs["input_ids"].shape[1] :])[0], str)


def test_mrope_section_keeps_qwen_proportions():
    assert mrope_section_for(128) == [16, 24, 24]
    assert mrope_section_for(16) == [2, 3, 3]
    assert sum(mrope_section_for(48)) == 24


def test_config_overrides_resize_the_model_and_keep_derived_fields_consistent():
    ids = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    cfg = tiny_config_dict(
        "tiny", ids, 512, {"text_config": {"hidden_size": 96, "num_attention_heads": 2}, "vision_config": {"depth": 1}}
    )
    assert cfg["text_config"]["rope_parameters"]["mrope_section"] == mrope_section_for(48)
    assert cfg["vision_config"]["hidden_size"] == 96
    assert cfg["vision_config"]["depth"] == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"text_config": {"hidden_size": 65}},
        {"text_config": {"rope_parameters": {"rope_type": "default", "mrope_section": [1, 1, 1]}}},
        {"text_config": 3},
        {"vision_config": {"hidden_size": 32}},
    ],
)
def test_inconsistent_config_overrides_raise_vlmq_error(overrides):
    with pytest.raises(VlmqError, match="config_overrides"):
        tiny_config_dict("tiny", {t: i for i, t in enumerate(SPECIAL_TOKENS)}, 512, overrides)


def test_qwen2_5_tiny_builds_loads_and_generates(tmp_path):
    folder = build_tiny_model(tmp_path / "q25", preset="qwen2.5")
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl"
    assert config["vision_config"]["out_hidden_size"] == config["text_config"]["hidden_size"]
    assert json.loads((folder / "processor_config.json").read_text())["processor_class"] == "Qwen2_5_VLProcessor"
    loaded = load_model(str(folder))
    assert (loaded.family, type(loaded.processor).__name__) == ("qwen2_5_vl", "Qwen2_5_VLImageOnlyProcessor")
    text = loaded.processor.apply_chat_template(IMAGE_QUESTION, add_generation_prompt=True)
    inputs = loaded.processor(text=[text], images=[Image.new("RGB", (224, 168), "blue")], return_tensors="pt")
    with torch.no_grad():
        out = loaded.model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


def test_unknown_tiny_preset_names_the_choices(tmp_path):
    with pytest.raises(VlmqError, match="choose from: tiny, mid, small, qwen2.5"):
        build_tiny_model(tmp_path / "x", preset="huge")


# The sizes each tiny preset builds: decoder (layers, hidden, heads, kv_heads, intermediate), vision tower
# (depth, width, heads, MLP width) and model type.
TINY_SIZES = {
    "tiny": ((2, 64, 4, 2, 128), (2, 64, 4, 128), "qwen2_vl"),
    "mid": ((4, 256, 8, 4, 688), (4, 128, 4, 256), "qwen2_vl"),
    "small": ((8, 512, 8, 4, 1376), (8, 256, 8, 512), "qwen2_vl"),
    "qwen2.5": ((2, 64, 4, 2, 128), (2, 64, 4, 128), "qwen2_5_vl"),
}


@pytest.mark.parametrize("preset", sorted(TINY_SIZES))
def test_tiny_presets_build_their_stated_sizes(preset):
    config = tiny_config(preset)
    text, vision = config.text_config, config.vision_config
    decoder = (text.num_hidden_layers, text.hidden_size, text.num_attention_heads, text.num_key_value_heads)
    width = getattr(vision, "embed_dim", None) if config.model_type == "qwen2_vl" else vision.hidden_size
    mlp = width * vision.mlp_ratio if config.model_type == "qwen2_vl" else vision.intermediate_size
    got = ((*decoder, text.intermediate_size), (vision.depth, width, vision.num_heads, mlp), config.model_type)
    assert got == TINY_SIZES[preset]
    assert (text.max_position_embeddings, text.rms_norm_eps, config.tie_word_embeddings) == (4096, 1e-6, False)
    assert (text.eos_token_id, config.image_token_id) == (
        SPECIAL_TOKENS.index("<|im_end|>"),
        SPECIAL_TOKENS.index("<|image_pad|>"),
    )
