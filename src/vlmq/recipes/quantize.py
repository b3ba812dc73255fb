"""Round-to-nearest weight quantization into the deployable layouts, and the module swap.

Why vlmq's own arithmetic (about forty lines) rather than a library call:
- The scales and zero points are computed as compressed-tensors' ``calculate_qparams`` computes them
  for a memoryless min-max observer (llm-compressor's default): in the weight's dtype, with zero always
  inside the range, so they are bit-equal to what llm-compressor would write (tests/recipes/test_quantize.py
  checks it against compressed-tensors itself).
- The values are then rounded in float32 against those scales, i.e. to the nearest grid point.
  compressed-tensors divides in the weight's dtype first (BF16 keeps 8 significant bits), which puts
  some int8 values one step off the nearest one (2.1% of them on a test matrix); vlmq's export writes
  vlmq's own tensors, so nothing needs the BF16 division.
- compressed-tensors pulls in pydantic and loguru, which the GPU image lacks; torchao's affine
  primitives store float zero points (tinygemm) or round the zero point differently.
The scales stay in the weight's dtype (BF16 for BF16 models): that is the dtype every loader gives
``weight_scale``, so the dequantized weight a server holds is exactly ``(q - zero) * scale``.
"""

from __future__ import annotations

import torch
from torch import nn

from vlmq.engine.kernels import dequantize_int4, pack_int4
from vlmq.engine.qformat import LinearFormat
from vlmq.engine.qlinear import W4Linear, W8Linear

FP8_MAX = float(torch.finfo(torch.float8_e4m3fn).max)  # 448


def _eps_for_zero(scale: torch.Tensor) -> torch.Tensor:
    """compressed-tensors replaces zero scales (all-zero rows/groups) by the dtype's eps."""
    return torch.where(
        scale == 0, torch.tensor(torch.finfo(scale.dtype).eps, dtype=scale.dtype, device=scale.device), scale
    )


def int_qparams(weight: torch.Tensor, bits: int, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(scale, zero point or None) per row of ``weight`` [..., n] (rows are channels or groups).

    As compressed-tensors' ``calculate_qparams``: 0 is always inside [min, max]; symmetric
    ``scale = amax / (range / 2)``; asymmetric ``scale = (max - min) / range`` and
    ``zero = round(clamp(q_min - min / scale))``; arithmetic in the weight's dtype.
    """
    q_min, q_max = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    full = torch.tensor(float(q_max - q_min), dtype=weight.dtype, device=weight.device)
    lo = torch.minimum(weight.amin(dim=-1), torch.zeros((), dtype=weight.dtype, device=weight.device))
    hi = torch.maximum(weight.amax(dim=-1), torch.zeros((), dtype=weight.dtype, device=weight.device))
    if symmetric:
        return _eps_for_zero(torch.maximum(lo.abs(), hi.abs()) / (full / 2)), None
    scale = (hi - lo) / full
    zero = torch.round(torch.clamp(q_min - lo / scale, q_min, q_max)).to(torch.int8)
    return _eps_for_zero(scale), zero


def quantize_int(weight: torch.Tensor, bits: int, group_size: int | None, symmetric: bool):
    """[N, K] weight -> (q int8 [N, K], scale [N, G], zero int8 [N, G] or None); G = 1 per channel."""
    n, k = weight.shape
    groups = weight.reshape(n, k // group_size, group_size) if group_size else weight.reshape(n, 1, k)
    scale, zero = int_qparams(groups, bits, symmetric)
    shifted = groups.float() / scale.float()[..., None]
    if zero is not None:
        shifted = shifted + zero.float()[..., None]
    q = torch.round(shifted).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1).to(torch.int8)
    return q.reshape(n, k), scale, zero


def quantize_fp8(weight: torch.Tensor, per_row: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, K] weight -> (E4M3 values, scale [N, 1] or [1]) with ``scale = amax / 448`` in the weight's dtype."""
    amax = weight.abs().amax(dim=-1, keepdim=True) if per_row else weight.abs().amax().reshape(1)
    scale = _eps_for_zero(amax / torch.tensor(FP8_MAX, dtype=weight.dtype, device=weight.device))
    scaled = weight.float() / (scale.float() if per_row else scale.float().reshape(1, 1))
    return scaled.clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn), scale


def w8_module(linear: nn.Linear, fmt: LinearFormat) -> W8Linear:
    """The ``W8Linear`` of a float linear: int8 per channel (symmetric) or FP8 per row / per tensor."""
    weight = linear.weight.detach()
    if fmt.weight == "int8":
        q, scale, _ = quantize_int(weight, 8, None, symmetric=True)
    else:
        q, scale = quantize_fp8(weight, per_row=fmt.weight_granularity == "channel")
    return W8Linear(q, scale.reshape(-1), linear.bias, fmt)


def w4_module(linear: nn.Linear, fmt: LinearFormat) -> W4Linear:
    """The ``W4Linear`` of a float linear: int4 per group, integer zero points unless symmetric."""
    q, scale, zero = quantize_int(linear.weight.detach(), 4, fmt.group_size, fmt.symmetric)
    return W4Linear(pack_int4(q), scale, zero, linear.bias, fmt)


def fake_quantize_int4(weight: torch.Tensor, fmt: LinearFormat) -> torch.Tensor:
    """The weight an int4 format stores, dequantized: what AWQ's scale search scores."""
    q, scale, zero = quantize_int(weight, 4, fmt.group_size, fmt.symmetric)
    return dequantize_int4(pack_int4(q), scale, zero, fmt.group_size, weight.dtype)


def swap_linears(model: nn.Module, names: list[str], make) -> int:
    """Replace each named linear of ``model`` by ``make(linear)``; returns how many were replaced."""
    for fqn in names:
        parent_name, _, child = fqn.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(getattr(parent, child)))
    return len(names)
