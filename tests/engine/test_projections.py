"""The compiled path's projections (fused BF16, 8-bit GEMV packs) compute what the modules compute.

On CPU ``vlmq::w8_linear`` runs its pure-torch reference, so these tests check fusion, packing and
activation quantization; the Triton kernel itself is checked on the GPU (tests marked gpu).
"""

import copy

import pytest
import torch

from vlmq.engine import Engine, Prompt
from vlmq.engine.kernels import quantize_activation
from vlmq.engine.projections import build_projections


def engine_with_built_projections(loaded):
    engine = Engine(loaded)
    d = engine.decoder
    proj, packs, label = build_projections(d.layers, d.shape.num_heads, d.shape.num_kv_heads, d.shape.head_dim,
                                           engine.dtype)
    d.projections, d.packs = proj, packs
    return engine, label


def quantized_copy(loaded, config):
    from torchao.quantization import quantize_

    from vlmq.models import is_decoder_linear

    clone = copy.deepcopy(loaded)
    quantize_(clone.model, config, filter_fn=is_decoder_linear)
    return clone


def int8_weight_only():
    from torchao.quantization import Int8WeightOnlyConfig

    return Int8WeightOnlyConfig(set_inductor_config=False)


def int8_dynamic():
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig

    return Int8DynamicActivationInt8WeightConfig(set_inductor_config=False)


def fp8_weight_only():
    from torchao.quantization import Float8WeightOnlyConfig

    return Float8WeightOnlyConfig(set_inductor_config=False)


@pytest.mark.parametrize("make_config, label", [(None, "fused-bf16"), (int8_weight_only, "w8-gemv-bf16"),
                                                (int8_dynamic, "w8-gemv-int8"), (fp8_weight_only, "w8-gemv-bf16")])
def test_projection_packs_match_module_calls(tiny_fp32, images, make_config, label):
    loaded = copy.deepcopy(tiny_fp32) if make_config is None else quantized_copy(tiny_fp32, make_config())
    prompts = [Prompt("What is in the image?", images[0])]
    reference = Engine(loaded)
    ref_tokens = reference.generate(prompts, 6, ignore_eos=True)[0].token_ids
    ref_logits = reference.next_token_logits(prompts)
    engine, got_label = engine_with_built_projections(loaded)
    assert got_label == label
    # prefill (many rows) goes through the modules for 8-bit; decode steps (one row) through the packs
    assert engine.generate(prompts, 6, ignore_eos=True)[0].token_ids == ref_tokens
    torch.testing.assert_close(engine.next_token_logits(prompts), ref_logits, atol=2e-3, rtol=0)
    # the modules still compute the same after their weights became views of the fused buffers
    torch.testing.assert_close(Engine(loaded).next_token_logits(prompts), ref_logits, atol=2e-3, rtol=0)


def test_fused_weights_share_storage_with_modules(tiny_fp32):
    loaded = copy.deepcopy(tiny_fp32)
    layer = loaded.model.model.language_model.layers[0]
    _, label = engine_with_built_projections(loaded)
    assert label == "fused-bf16"
    q, k = layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight
    assert q.untyped_storage().data_ptr() == k.untyped_storage().data_ptr()


def test_int8_activation_quantization_matches_torchao(tiny_fp32):
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Linear(64, 32, bias=False))
    x = torch.randn(3, 64)
    quantize_(linear, Int8DynamicActivationInt8WeightConfig(set_inductor_config=False))
    w = linear[0].weight
    xq, xs = quantize_activation(x, "int8")
    mine = (xq.float() @ w.qdata.float().t()) * xs[:, None] * w.scale.float().view(1, -1)
    torch.testing.assert_close(mine, linear(x).float(), atol=1e-4, rtol=1e-4)


def test_fp8_activation_quantization_roundtrip():
    x = torch.tensor([[1.0, -2.0, 0.5, 448.0], [0.0, 0.0, 0.0, 0.0]])
    q, s = quantize_activation(x, "fp8")
    assert q.dtype == torch.float8_e4m3fn and s.shape == (2,)
    torch.testing.assert_close(q.float() * s[:, None], x)


@pytest.mark.parametrize("a_mode, wdtype", [("bf16", torch.int8), ("int8", torch.int8), ("fp8", torch.float8_e4m3fn)])
def test_large_m_dequant_mm_matches_reference(a_mode, wdtype):
    """The large-M path (prefill) widens 8-bit values to bf16 exactly: same result as the fp32 reference
    up to the bf16 rounding of the product."""
    from vlmq.engine.kernels import w8_linear_dequant_mm, w8_linear_reference

    torch.manual_seed(0)
    x = torch.randn(40, 96, dtype=torch.bfloat16)
    w = torch.randint(-127, 128, (24, 96), dtype=torch.int8) if wdtype == torch.int8 else \
        (torch.randn(24, 96) * 50).clamp(-440, 440).to(wdtype)
    ws, bias = torch.rand(24) * 0.01, torch.randn(24, dtype=torch.bfloat16)
    xq, xs = quantize_activation(x, a_mode)
    got = w8_linear_dequant_mm(xq, w, ws, xs, bias, torch.float32)
    ref = w8_linear_reference(xq, w, ws, xs, bias, torch.float32)
    assert ((got - ref).norm() / ref.norm()).item() < 5e-3
