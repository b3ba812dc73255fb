"""The compiled path's projections (fused packs of one format, or module calls) compute what the modules compute.

On CPU ``vlmq::w8_linear`` / ``vlmq::w4a16_linear`` run their pure-torch references, so these tests check
fusion, packing and activation quantization; the Triton kernels themselves are checked on the GPU.
"""

import copy

import pytest
import torch

from vlmq.engine import Engine, Prompt
from vlmq.engine.kernels import quantize_activation
from vlmq.engine.projections import build_projections
from vlmq.errors import VlmqError
from vlmq.recipes import apply_recipe, parse_recipe


def engine_with_built_projections(loaded, bf16_kernel="cublas"):
    engine = Engine(loaded)
    d = engine.decoder
    proj, packs, label = build_projections(d.layers, d.shape.num_heads, d.shape.num_kv_heads, d.shape.head_dim,
                                           bf16_kernel=bf16_kernel)
    d.projections, d.packs = proj, packs
    return engine, label


def quantized_copy(loaded, recipe: str | None):
    clone = copy.deepcopy(loaded)
    if recipe is not None:
        apply_recipe(clone, parse_recipe(recipe), None)
    return clone


def w8a8_int8_copy(loaded):
    """SmoothQuant's stored format (int8 weights, dynamic per-token int8 activations) without its calibration."""
    from vlmq.engine.qformat import LinearFormat
    from vlmq.models import is_decoder_linear
    from vlmq.recipes.quantize import swap_linears, w8_module

    clone = copy.deepcopy(loaded)
    names = [fqn for fqn, m in clone.model.named_modules() if is_decoder_linear(m, fqn)]
    swap_linears(clone.model, names, lambda linear: w8_module(linear, LinearFormat("int8", "channel", "int8", "token")))
    return clone


@pytest.mark.parametrize("recipe, label", [
    (None, "fused-bf16"), ("int8_wo", "w8-gemv-bf16"), ("fp8", "w8-gemv-fp8-reference"),
    ("fp8+gran=tensor", "w8-gemv-fp8-reference"), ("int4_wo+group=32", "w4-gemv"), ("int4_wo+group=32+sym", "w4-gemv"),
    ("nvfp4", "modules"), ("int4_wo+group=32+keep8=0", "w8-gemv-bf16+w4-gemv"),
    ("int4_wo+group=32+keep=k_proj", "modules+w4-gemv"), ("int8_wo+keep=1", "w8-gemv-bf16+fused-bf16"),
    ("w8a8-int8", "w8-gemv-int8"),
])
def test_projection_packs_match_module_calls(tiny_fp32, images, recipe, label):
    loaded = w8a8_int8_copy(tiny_fp32) if recipe == "w8a8-int8" else quantized_copy(tiny_fp32, recipe)
    prompts = [Prompt("What is in the image?", images[0])]
    reference = Engine(loaded)
    ref_tokens = reference.generate(prompts, 6, ignore_eos=True)[0].token_ids
    ref_logits = reference.next_token_logits(prompts)
    engine, got_label = engine_with_built_projections(loaded)
    assert got_label == label
    # prefill (many rows) and decode steps (one row) both go through the packs
    assert engine.generate(prompts, 6, ignore_eos=True)[0].token_ids == ref_tokens
    torch.testing.assert_close(engine.next_token_logits(prompts), ref_logits, atol=2e-3, rtol=0)
    # the modules still compute the same after their tensors became views of the fused buffers
    torch.testing.assert_close(Engine(loaded).next_token_logits(prompts), ref_logits, atol=2e-3, rtol=0)


def test_fused_weights_share_storage_with_modules(tiny_fp32):
    loaded = copy.deepcopy(tiny_fp32)
    layer = loaded.model.model.language_model.layers[0]
    _, label = engine_with_built_projections(loaded)
    assert label == "fused-bf16"
    q, k = layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight
    assert q.untyped_storage().data_ptr() == k.untyped_storage().data_ptr()


def test_fused_int4_tensors_share_storage_with_modules(tiny_fp32):
    loaded = quantized_copy(tiny_fp32, "int4_wo+group=32")
    mlp = loaded.model.model.language_model.layers[1].mlp
    engine_with_built_projections(loaded)
    for name in ("qweight", "weight_scale", "weight_zero_point"):
        gate, up = getattr(mlp.gate_proj, name), getattr(mlp.up_proj, name)
        assert gate.untyped_storage().data_ptr() == up.untyped_storage().data_ptr(), name


def test_bf16_kernel_is_configuration_not_a_global(tiny_fp32, images):
    loaded = copy.deepcopy(tiny_fp32)
    engine, label = engine_with_built_projections(loaded, bf16_kernel="triton")
    assert label == "fused-bf16-triton" and Engine(loaded).bf16_kernel == "cublas"
    reference = Engine(loaded).next_token_logits([Prompt("Hi", images[1])])
    torch.testing.assert_close(engine.next_token_logits([Prompt("Hi", images[1])]), reference, atol=2e-3, rtol=0)
    with pytest.raises(VlmqError, match="unknown bf16 kernel 'cutlass'; choose from: cublas, triton"):
        engine_with_built_projections(loaded, bf16_kernel="cutlass")


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


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["int4_wo+group=32", "fp8+gran=tensor", "int8_wo+keep=k_proj"])
def test_compiled_layers_trace_quantized_packs_on_cpu(tiny_fp32, images, recipe):
    """Dynamo traces every pack kind with fullgraph=True (the compiled prefill), and gives the eager logits."""
    from unittest import mock

    from vlmq.engine.compiled import CompiledRunner

    loaded = quantized_copy(tiny_fp32, recipe)
    prompts = [Prompt("What is in the image?", images[0])]
    reference = Engine(loaded).next_token_logits(prompts)
    engine = Engine(loaded)
    with mock.patch("torch.cuda.graph_pool_handle", lambda: None):
        engine.compiled = CompiledRunner(engine)
    got = engine.next_token_logits(prompts)
    assert engine.compiled.prefill_note == "compiled"
    torch.testing.assert_close(got, reference, atol=2e-3, rtol=0)
