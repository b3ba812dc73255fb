"""vlmq's quantized linears: the format protocol, the arithmetic (the same functions the fused packs call),
and the storage accounting."""

import pytest
import torch
from torch import nn

from vlmq.engine import memory
from vlmq.engine.kernels import dequantize_int4, pack_int4, quantize_activation, w8_linear_reference
from vlmq.engine.qformat import LinearFormat, runs_real_on
from vlmq.engine.qlinear import W4Linear, W8Linear, decoder_weight_bytes, linear_format, weight_formats


def test_format_names_ops_and_where_it_is_real():
    int4 = LinearFormat("int4", "group", group_size=128, symmetric=False)
    w8a8 = LinearFormat("int8", "channel", "int8", "token")
    fp8 = LinearFormat("fp8_e4m3", "tensor", "fp8_e4m3", "tensor")
    w4a8 = LinearFormat("nvfp4", "block16", "fp8_e4m3", "token")
    assert [f.op for f in (int4, w8a8, fp8, w4a8)] == ["w4", "w8", "w8", "module"]
    assert int4.name == "int4/g128/asym" and w8a8.name == "int8/channel+int8/token"
    assert "cpu" in w8a8.real_on and fp8.real_on == ("sm89", "sm90", "sm100") and w4a8.real_on == ()
    assert runs_real_on(None, "cpu") and not runs_real_on(fp8, "cpu")
    with pytest.raises(ValueError, match="granularity"):
        LinearFormat("int8", "channel", "int8")


def test_protocol_answers_for_quantized_linears_only():
    q = torch.randint(-127, 128, (4, 16), dtype=torch.int8)
    fmt = LinearFormat("int8", "channel")
    assert linear_format(W8Linear(q, torch.rand(4), None, fmt)) == fmt
    assert linear_format(nn.Linear(16, 4)) is None


@pytest.mark.parametrize("activation, granularity", [("bf16", None), ("int8", "token"), ("fp8_e4m3", "tensor")])
def test_w8_linear_computes_the_op_on_its_quantized_input(activation, granularity):
    torch.manual_seed(0)
    wdtype = torch.float8_e4m3fn if activation == "fp8_e4m3" else torch.int8
    q = (torch.randn(24, 64) * 40).clamp(-127, 127).to(wdtype)
    scale, bias = torch.rand(24, dtype=torch.bfloat16) * 0.01, torch.randn(24)
    fmt = LinearFormat("fp8_e4m3" if wdtype != torch.int8 else "int8", "channel", activation, granularity)
    module = W8Linear(q, scale, bias, fmt)
    x = torch.randn(2, 3, 64)
    y = module(x)
    assert y.shape == (2, 3, 24) and module.weight_scale.dtype == torch.float32
    x2 = x.reshape(6, 64)
    if granularity == "tensor":  # one scale for the whole block
        xq, xs = quantize_activation(x2.reshape(1, -1), "fp8")
        xq, xs = xq.view(6, 64), xs.expand(6)
    else:
        xq, xs = quantize_activation(x2, {"bf16": "bf16", "int8": "int8"}[activation])
    expected = w8_linear_reference(xq, q, scale.float(), xs, bias, x.dtype).view(2, 3, 24)
    torch.testing.assert_close(y, expected)
    assert module.reference == (activation == "fp8_e4m3")  # no FP8 hardware on a CPU: reference arithmetic
    torch.testing.assert_close(module.dequantize(torch.float32), q.float() * scale.float()[:, None])


@pytest.mark.parametrize("symmetric", [True, False])
def test_w4_linear_is_x_times_its_dequantized_weight(symmetric):
    torch.manual_seed(0)
    q = torch.randint(-8, 8, (16, 64), dtype=torch.int8)
    scale = torch.rand(16, 2, dtype=torch.bfloat16) * 0.1
    zero = None if symmetric else torch.randint(-8, 8, (16, 2), dtype=torch.int8)
    fmt = LinearFormat("int4", "group", group_size=32, symmetric=symmetric)
    module = W4Linear(pack_int4(q), scale, zero, None, fmt)
    x = torch.randn(5, 64, dtype=torch.bfloat16)
    weight = dequantize_int4(pack_int4(q), scale, zero, 32, torch.bfloat16)
    torch.testing.assert_close(module(x), x @ weight.t())
    assert torch.equal(module.dequantize(), weight) and module.in_features == 64
    wrong_zero = torch.zeros(16, 2, dtype=torch.int8) if symmetric else None
    with pytest.raises(ValueError, match="zero points iff asymmetric"):
        W4Linear(pack_int4(q), scale, wrong_zero, None, fmt)


def test_storage_is_counted_as_stored(tiny_bf16):
    import copy

    from vlmq.recipes import apply_recipe, parse_recipe

    bf16_total, bf16_decoder = memory.module_bytes(tiny_bf16.model), decoder_weight_bytes(tiny_bf16.model)
    loaded = copy.deepcopy(tiny_bf16)
    apply_recipe(loaded, parse_recipe("int4_wo+group=32"), None)
    formats = weight_formats(loaded.model)
    ((name, entry),) = formats.items()
    params = entry["params"]
    assert name == "int4/g32/asym" and entry["bytes"] == params // 2 + (params // 32) * 3  # values + bf16 scale + zero
    saved = bf16_total - memory.module_bytes(loaded.model)
    assert saved == bf16_decoder - decoder_weight_bytes(loaded.model) > 0.6 * bf16_decoder
