"""8-bit weights (int8 or FP8 e4m3, per-row scales): activation quantization, the reference and the op.

- ``a_mode="bf16"`` (W8A16: int8_wo, FP8 weight-only): float activations x weights widened in registers;
- ``a_mode="int8"`` (W8A8, SmoothQuant): int8 x int8 → int32, scaled by activation and weight scales;
- ``a_mode="fp8"``  (FP8 W8A8): e4m3 x e4m3 → fp32, scaled likewise.

Activation quantization (per token) follows torchao's arithmetic (``quantize_activation``), so results
match torchao's own kernels up to accumulation order. ``vlmq::w8_linear`` runs gemv.py's decode kernels
up to ``GEMV_MAX_M`` rows (CUDA cores up to 4 rows, tensor-core tiles above; split K with a last-arriving
reduction, no second kernel) and prefill.py's tensor-core GEMMs beyond; it is opaque to Inductor and
capturable in CUDA graphs. A pure torch reference of the same arithmetic runs on CPUs and in tests.
"""

from __future__ import annotations

import torch

from vlmq.engine.kernels.gemv import GEMV_MAX_M, SUM_MAX_M, dot_config, gemv, sum_config, weight_format
from vlmq.engine.kernels.prefill import linear_cuda, w8_linear_dequant_mm
from vlmq.numerics import FP8_MAX, fp8_scale, to_fp8

A_MODES = {"bf16": 0, "int8": 1, "fp8": 2}
GEMV_BLOCK_M = GEMV_MAX_M  # rows up to which calls take the decode kernels (projections.py reads this name)


def quantize_activation(x: torch.Tensor, a_mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token symmetric quantization of [M, K] activations, as torchao does it.

    int8: scale = amax / 127.5 (clamped at fp32 eps), q = clamp(round(x * (1 / scale)), -128, 127);
    fp8:  scale = amax / 448 (clamped at 1e-12), q = clamp(x / scale, ±448) in e4m3 (``vlmq.numerics``).
    A division by a Python scalar is a multiplication by its fp32 reciprocal on CUDA and a division on CPUs
    (one ulp apart now and then), as in torchao; ``gemv.normalize_rows`` follows the device likewise.
    """
    if a_mode == "bf16":
        return x, None
    amax = x.abs().amax(dim=-1, keepdim=True).float()
    if a_mode == "int8":
        scale = (amax / 127.5).clamp_min(torch.finfo(torch.float32).eps)
        q = torch.clamp(torch.round(x.float() * (1.0 / scale)), -128, 127).to(torch.int8)
        return q, scale.squeeze(-1)
    scale = fp8_scale(amax)
    return to_fp8(x, scale), scale.squeeze(-1)


def w8_linear_reference(x, qweight, wscale, xscale, bias, out_dtype) -> torch.Tensor:
    """y[M, N] = (x @ q^T) * wscale (* xscale) + bias in float32 (the kernel's arithmetic, unfused).

    Also ``vlmq::w8_linear`` off CUDA: [M, K] activations (bf16, or int8/e4m3 with per-row ``xscale``) x
    [N, K] 8-bit weights → [M, N]."""
    return w8_linear_dequant_mm(x, qweight, wscale, xscale, bias, out_dtype, compute=torch.float32)


w8_linear = torch.library.custom_op(
    "vlmq::w8_linear",
    w8_linear_reference,
    mutates_args=(),
    schema="(Tensor x, Tensor qweight, Tensor wscale, Tensor? xscale, Tensor? bias, ScalarType out_dtype) -> Tensor",
)


@w8_linear.register_kernel("cuda")
def _(x, qweight, wscale, xscale, bias, out_dtype):
    return linear_cuda(x, qweight, wscale, None, 0, bias, xscale, out_dtype)


@w8_linear.register_fake
def _(x, qweight, wscale, xscale, bias, out_dtype):
    return x.new_empty((x.shape[0], qweight.shape[0]), dtype=out_dtype)


def launch_w8_gemv(x, qweight, wscale, xscale, bias, out_dtype, split_k: int | None = None):
    """The decode kernel with an explicit K split (GPU tests and benchmarks written against the first
    8-bit GEMV call this name)."""
    m, k = x.shape
    fmt, n = weight_format(qweight), qweight.shape[0]
    cfg = sum_config(fmt, m, n, k, split=split_k) if m <= SUM_MAX_M else dot_config(fmt, m, n, k, split=split_k)
    return gemv(x, qweight, wscale, None, 0, bias, x_scale=xscale, out_dtype=out_dtype, config=cfg)


__all__ = [
    "A_MODES",
    "FP8_MAX",
    "GEMV_BLOCK_M",
    "quantize_activation",
    "w8_linear",
    "w8_linear_dequant_mm",
    "w8_linear_reference",
]
