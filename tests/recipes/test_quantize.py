"""vlmq's round-to-nearest quantization against compressed-tensors' own arithmetic (what llm-compressor writes)."""

import pytest
import torch

from vlmq.engine.kernels import dequantize_int4, pack_int4
from vlmq.recipes.quantize import quantize_fp8, quantize_int

ct = pytest.importorskip("compressed_tensors")


def ct_args(bits: int, group_size: int | None, symmetric: bool, kind: str = "int"):
    from compressed_tensors.quantization import QuantizationArgs

    strategy = "group" if group_size else "channel"
    return QuantizationArgs(num_bits=bits, type=kind, symmetric=symmetric, strategy=strategy, group_size=group_size)


def ct_quantize(weight, args):
    """compressed-tensors' memoryless min-max qparams and its quantize (llm-compressor's RTN path)."""
    from compressed_tensors.quantization.lifecycle.forward import quantize
    from compressed_tensors.quantization.utils import calculate_qparams

    n, k = weight.shape
    g = args.group_size or k
    groups = weight.reshape(n, k // g, g)
    scale, zero = calculate_qparams(groups.amin(dim=-1), groups.amax(dim=-1), args)
    dtype = torch.int8 if args.type == "int" else torch.float8_e4m3fn
    q = quantize(weight, scale if args.group_size else scale, zero, args, dtype=dtype)
    return q, scale, zero


def outlier_weight(n=48, k=256, seed=0):
    torch.manual_seed(seed)
    w = torch.randn(n, k) * 0.02
    w[:, 7] *= 30  # an outlier column, as real decoder weights have
    w[3] = w[3].abs()  # a row with no negative value: 0 must still be inside the range
    return w.to(torch.bfloat16)


@pytest.mark.parametrize("bits, group, symmetric", [(8, None, True), (4, 128, False), (4, 32, True), (4, 64, False)])
def test_scales_and_zero_points_are_bit_equal_to_compressed_tensors(bits, group, symmetric):
    w = outlier_weight()
    q, scale, zero = quantize_int(w, bits, group, symmetric)
    ct_q, ct_scale, ct_zero = ct_quantize(w, ct_args(bits, group, symmetric))
    assert scale.dtype == torch.bfloat16 and torch.equal(scale, ct_scale)
    if symmetric:
        assert zero is None and not ct_zero.any()
    else:
        assert zero.dtype == torch.int8 and torch.equal(zero, ct_zero.to(torch.int8))
    # values: the same grid; vlmq rounds to the nearest point, compressed-tensors after a BF16 division
    grid = scale.float().repeat_interleave(group or w.shape[1], dim=1)
    shift = zero.float().repeat_interleave(group or w.shape[1], dim=1) if zero is not None else 0.0
    mine, theirs = (q.float() - shift) * grid, (ct_q.float() - shift) * grid
    assert ((mine - w.float()).abs() <= (theirs - w.float()).abs() + 1e-9).all()
    # they differ by one step where BF16 rounding moved the quotient (2.1% of int8 values here)
    assert (q.int() - ct_q.int()).abs().max() <= 1


def test_int4_values_dequantize_to_the_nearest_grid_point():
    w = outlier_weight()
    q, scale, zero = quantize_int(w, 4, 32, symmetric=False)
    deq = dequantize_int4(pack_int4(q), scale, zero, 32, torch.float32)
    step = scale.float().repeat_interleave(32, dim=1)
    inside = (q > -8) & (q < 7)  # not clipped at the ends of the range
    assert ((deq - w.float()).abs()[inside] <= step[inside] / 2 + 1e-6).all()


@pytest.mark.parametrize("per_row", [True, False])
def test_fp8_scale_is_compressed_tensors_amax_over_448(per_row):
    from compressed_tensors.quantization.utils import calculate_qparams

    w = outlier_weight()
    q, scale = quantize_fp8(w, per_row)
    args = ct_args(8, None, True, kind="float")
    lo, hi = (w.amin(dim=-1, keepdim=True), w.amax(dim=-1, keepdim=True)) if per_row else (w.amin(), w.amax())
    ct_scale, _ = calculate_qparams(lo, hi, args)
    assert torch.equal(scale.reshape(-1), ct_scale.reshape(-1))
    assert q.dtype == torch.float8_e4m3fn and q.float().abs().max() <= 448
    back = q.float() * scale.float().reshape(-1, 1 if per_row else 1)
    assert ((back - w.float()).abs() <= w.float().abs() * 2**-3 + 1e-6).all()  # E4M3: 3 mantissa bits


def test_all_zero_rows_get_a_finite_scale():
    w = torch.zeros(4, 64, dtype=torch.bfloat16)
    q, scale, zero = quantize_int(w, 4, 32, symmetric=False)
    assert torch.isfinite(scale).all() and (scale > 0).all() and not q.any()


def test_packed_int4_layout_is_compressed_tensors_pack_quantized():
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32, unpack_from_int32

    q = torch.randint(-8, 8, (16, 64), dtype=torch.int8)
    assert torch.equal(pack_int4(q), pack_to_int32(q, 4))
    assert torch.equal(unpack_from_int32(pack_int4(q), 4, torch.Size([16, 64])), q)
