"""Locating the text decoder and vision tower, the decoder-linear filter, summaries and the model list."""

import pytest
from torch import nn

import vlmq.models.loading as loading
from vlmq.errors import VlmqError
from vlmq.models import (
    decoder_layers,
    is_decoder_linear,
    list_models,
    load_model,
    model_summary,
    text_decoder,
    vision_tower,
)

DECODER_LINEARS_PER_LAYER = 7  # q, k, v, o, gate, up, down


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_model(str(tiny_dir))


def test_parts_are_found_where_transformers_puts_them(tiny):
    assert text_decoder(tiny.model) is tiny.model.model.language_model
    assert vision_tower(tiny.model) is tiny.model.model.visual
    assert decoder_layers(tiny.model) is tiny.model.model.language_model.layers


def test_parts_are_found_on_the_bare_backbone_too(tiny):
    backbone = tiny.model.model
    assert text_decoder(backbone) is backbone.language_model and vision_tower(backbone) is backbone.visual


def test_a_model_without_the_parts_is_refused():
    with pytest.raises(VlmqError, match="pass a Qwen2-VL or Qwen2.5-VL model"):
        text_decoder(nn.Linear(2, 2))
    with pytest.raises(VlmqError, match="pass a Qwen2-VL or Qwen2.5-VL model"):
        vision_tower(nn.Linear(2, 2))


def test_decoder_linear_filter_selects_exactly_the_decoder_projections(tiny):
    selected = [fqn for fqn, m in tiny.model.named_modules() if is_decoder_linear(m, fqn)]
    layers = tiny.model.config.get_text_config().num_hidden_layers
    assert len(selected) == DECODER_LINEARS_PER_LAYER * layers
    assert all(fqn.startswith("model.language_model.layers.") for fqn in selected)
    all_linears = [fqn for fqn, m in tiny.model.named_modules() if isinstance(m, nn.Linear)]
    assert "lm_head" in all_linears and any(".visual." in f for f in all_linears)  # there was something to exclude


def test_decoder_linear_filter_works_with_names_relative_to_the_decoder(tiny):
    decoder = text_decoder(tiny.model)
    selected = [fqn for fqn, m in decoder.named_modules() if is_decoder_linear(m, fqn)]
    assert len(selected) == DECODER_LINEARS_PER_LAYER * len(decoder.layers)
    assert not is_decoder_linear(tiny.model.model.visual.merger.mlp[0], "model.visual.merger.mlp.0")
    assert not is_decoder_linear(decoder.layers[0].input_layernorm, "model.language_model.layers.0.input_layernorm")


def test_summary_parts_add_up_and_config_essentials_are_reported(tiny):
    summary = model_summary(tiny)
    params, config = summary["params"], summary["config"]
    final_norm = text_decoder(tiny.model).norm.weight.numel()
    assert (
        params["total"]
        == params["decoder_layers"] + params["vision"] + params["embeddings"] + params["lm_head"] + final_norm
    )
    assert summary["bytes"]["total"] == 2 * params["total"]  # bfloat16
    assert config["tied"] is False
    assert (config["layers"], config["hidden"], config["heads"], config["kv_heads"], config["head_dim"]) == (
        2,
        64,
        4,
        2,
        16,
    )
    assert config["vocab"] == tiny.model.config.get_text_config().vocab_size


def test_list_models_covers_every_loadable_name(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "TOY_MODEL_DIR", tmp_path / "no-toy")
    rows = dict(list_models())
    assert set(rows) == set(loading.known_model_names())
    assert "falls back to 'tiny'" in rows["toy"]
    assert "2 layers, hidden 64" in rows["tiny"] and "2.21 B params" in rows["qwen2-vl-2b"]


def test_list_models_describes_a_shipped_toy(tiny_dir, monkeypatch):
    monkeypatch.setattr(loading, "TOY_MODEL_DIR", tiny_dir)
    assert dict(list_models())["toy"].startswith("trained toy model shipped with vlmq: 2 layers")


def test_summary_counts_the_real_storage_of_quantized_weights(tiny_dir):
    quantization = pytest.importorskip("torchao.quantization")
    loaded = load_model(str(tiny_dir))
    before = model_summary(loaded)
    decoder_linear_params = sum(
        m.weight.numel() for fqn, m in loaded.model.named_modules() if is_decoder_linear(m, fqn)
    )
    quantization.quantize_(loaded.model, quantization.Int8WeightOnlyConfig(), filter_fn=is_decoder_linear)
    after = model_summary(loaded)
    assert after["params"] == before["params"]
    assert after["bytes"]["vision"] == before["bytes"]["vision"]
    # int8 weights: one byte per weight plus small per-row scales, instead of two bytes per weight.
    saved = before["bytes"]["decoder_layers"] - after["bytes"]["decoder_layers"]
    assert 0.8 * decoder_linear_params < saved <= decoder_linear_params
