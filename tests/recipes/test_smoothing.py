"""Folded smoothing (SmoothQuant, AWQ): exact in float, shared per RMSNorm, and AWQ's search beats plain rounding."""

import copy

import pytest
import torch
from torch import nn

from vlmq.engine import Engine
from vlmq.engine.qformat import LinearFormat
from vlmq.recipes import apply_recipe, parse_recipe
from vlmq.recipes.awq import search_scales
from vlmq.recipes.quantize import fake_quantize_int4
from vlmq.recipes.smoothing import InputStats, Mapping, fold_scales, record_inputs, smoothing_mappings
from vlmq.recipes.smoothquant import smoothing_scales


@pytest.fixture(scope="module")
def tiny_fp32():
    from vlmq.models import load_model

    return load_model("tiny", dtype=torch.float32)


def test_mappings_follow_llm_compressor_and_skip_v_to_o_under_gqa(tiny_fp32):
    names = [m.name for m in smoothing_mappings(tiny_fp32.model)]
    assert names == [
        f"layers.{i}.{site}"
        for i in range(2)
        for site in (
            "input_layernorm -> q_proj/k_proj/v_proj",
            "post_attention_layernorm -> gate_proj/up_proj",
            "up_proj -> down_proj",
        )
    ]  # tiny has 4 query / 2 KV heads: v_proj (128 wide) cannot feed o_proj (256)


def test_folding_any_scales_leaves_the_float_model_unchanged(tiny_fp32, probe_prompts):
    loaded = copy.deepcopy(tiny_fp32)
    before = Engine(loaded).next_token_logits(probe_prompts)
    torch.manual_seed(0)
    for mapping in smoothing_mappings(loaded.model):
        width = mapping.balance[0].in_features
        fold_scales(mapping, torch.rand(width) * 4 + 0.25)
    torch.testing.assert_close(Engine(loaded).next_token_logits(probe_prompts), before, atol=2e-4, rtol=1e-4)


def test_smoothing_scales_are_the_papers_formula():
    act = torch.tensor([4.0, 1.0, 0.0])
    weights = [torch.tensor([[1.0, -2.0, 0.5]]), torch.tensor([[-0.25, 1.0, 8.0]])]
    scales = smoothing_scales(act, weights, alpha=0.5)
    w_max = torch.tensor([1.0, 2.0, 8.0])  # per column over every linear of the mapping
    expected = (act.clamp(min=1e-5).sqrt() / w_max.sqrt()).clamp(min=1e-5)
    torch.testing.assert_close(scales, expected)


def test_smoothquant_shares_one_vector_per_norm(tiny, calib):
    """The q/k/v inputs are scaled by one vector (the norm's), so the three linears' columns move together."""
    layer = tiny.model.model.language_model.layers[0]
    before = {n: getattr(layer.self_attn, n).weight.detach().float().clone() for n in ("q_proj", "k_proj", "v_proj")}
    norm_before = layer.input_layernorm.weight.detach().float().clone()
    apply_recipe(tiny, parse_recipe("smoothquant"), calib)
    factor = norm_before / layer.input_layernorm.weight.detach().float()  # s per channel
    for name, w in before.items():
        linear = getattr(layer.self_attn, name)
        folded = linear.dequantize(torch.float32)
        # dequantized folded weight ~= original * s (int8 rounding only)
        err = (folded - w * factor).norm() / (w * factor).norm()
        assert err < 0.02, (name, err)
    assert not torch.allclose(factor, torch.ones_like(factor))


def test_awq_search_beats_round_to_nearest_on_an_outlier_channel():
    torch.manual_seed(0)
    k, n, g = 128, 64, 32
    x = torch.randn(256, k)
    x[:, 5] *= 40  # one salient input channel
    linear = nn.Linear(k, n, bias=False)
    mapping = Mapping("test", smooth=nn.LayerNorm(k), balance=(linear,))
    stats = InputStats()
    stats.add(x, keep_tokens=256)
    fmt = LinearFormat("int4", "group", group_size=g, symmetric=False)
    reference = x @ linear.weight.t()
    rtn = x @ fake_quantize_int4(linear.weight.detach(), fmt).t()
    scales = search_scales(stats, mapping, [linear], fmt)
    awq = (x / scales) @ fake_quantize_int4(linear.weight.detach() * scales, fmt).t()
    assert (awq - reference).pow(2).mean() < 0.8 * (rtn - reference).pow(2).mean()


def test_recorder_sees_inputs_and_removes_its_hooks():
    linear = nn.Linear(8, 4)
    with record_inputs({"l": linear}, keep_tokens_per_prompt=3) as stats:
        linear(torch.arange(16.0).reshape(2, 8) - 8)
    assert stats["l"].count == 2 and stats["l"].absmax.tolist() == [8, 7, 6, 5, 4, 5, 6, 7]
    assert stats["l"].absmean.tolist() == [4.0] * 8
    assert stats["l"].tokens().shape == (2, 8) and not linear._forward_pre_hooks
