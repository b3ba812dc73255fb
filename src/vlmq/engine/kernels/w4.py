"""4-bit weights (W4A16, group-wise): the packed layout, its reference arithmetic and the op the engine calls.

The layout is the one serving engines load (compressed-tensors "pack-quantized", the GPTQ convention),
so the model vlmq measures is the model a user deploys:

- values ``q`` are signed int4 in [-8, 7], stored as the nibble ``q + 8``, eight per int32 along K:
  ``qweight[n, i]`` holds columns ``8i .. 8i+7``, column ``8i + j`` in bits ``4j .. 4j+3``
  (compressed-tensors' ``pack_to_int32(q, 4)``);
- ``scale`` [N, K // group] in the compute dtype; ``zero`` [N, K // group] int8 in [-8, 7] (asymmetric)
  or None (symmetric);
- ``w[n, k] = (q[n, k] - zero[n, k // group]) * scale[n, k // group]``.

``vlmq::w4a16_linear`` reads this layout as it is (no repacking): gemv.py's decode kernels up to
``GEMV_MAX_M`` rows, prefill.py's dequantize-then-cuBLAS (or Triton GEMM) beyond; the reference below on
CPUs and in tests.
"""

from __future__ import annotations

import torch

from vlmq.engine.kernels.prefill import linear_cuda

INT4_MIN, INT4_MAX = -8, 7
_NIBBLES = 8  # int4 values per int32 word


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """[N, K] int8 values in [-8, 7] → [N, K // 8] int32 (K a multiple of 8)."""
    n, k = q.shape
    if k % _NIBBLES:
        raise ValueError(f"int4 packing needs K divisible by {_NIBBLES}, got {k}")
    nibbles = (q.to(torch.int32) + 8).view(n, k // _NIBBLES, _NIBBLES)
    shifts = torch.arange(_NIBBLES, device=q.device, dtype=torch.int32) * 4
    return (nibbles << shifts).sum(dim=-1, dtype=torch.int32)


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """[N, K // 8] int32 → [N, K] int8 values in [-8, 7] (inverse of ``pack_int4``)."""
    n, words = packed.shape
    shifts = torch.arange(_NIBBLES, device=packed.device, dtype=torch.int32) * 4
    nibbles = (packed.unsqueeze(-1) >> shifts) & 0xF
    return (nibbles - 8).to(torch.int8).view(n, words * _NIBBLES)


def dequantize_int4(
    packed: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor | None, group_size: int, dtype: torch.dtype
) -> torch.Tensor:
    """The [N, K] weight the packed tensors stand for, in ``dtype``: (q - zero) * scale, per group."""
    q = unpack_int4(packed).float()
    if zero is not None:
        q = q - zero.float().repeat_interleave(group_size, dim=1)
    return (q * scale.float().repeat_interleave(group_size, dim=1)).to(dtype)


def w4a16_linear_reference(
    x: torch.Tensor,
    packed: torch.Tensor,
    scale: torch.Tensor,
    zero: torch.Tensor | None,
    group_size: int,
    bias: torch.Tensor | None,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """y[M, N] = x @ dequantize(w)^T (+ bias): the unfused arithmetic every kernel is tested against."""
    y = x.to(out_dtype) @ dequantize_int4(packed, scale, zero, group_size, out_dtype).t()
    return y + bias.to(out_dtype) if bias is not None else y


# [M, K] activations x packed int4 [N, K // 8] weights → [M, N] in ``out_dtype``: the reference (whose
# signature is the op's schema) off CUDA, ``linear_cuda`` on it
w4a16_linear = torch.library.custom_op("vlmq::w4a16_linear", w4a16_linear_reference, mutates_args=())


@w4a16_linear.register_kernel("cuda")
def _(x, packed, scale, zero, group_size, bias, out_dtype):
    return linear_cuda(x, packed, scale, zero, group_size, bias, None, out_dtype)


@w4a16_linear.register_fake
def _(x, packed, scale, zero, group_size, bias, out_dtype):
    return x.new_empty((x.shape[0], packed.shape[0]), dtype=out_dtype)
