"""FP8 E4M3 arithmetic shared by the KV cache, the FP8 recipes and the emulated paths: one definition.

A scale is ``amax / 448`` (448 = float8_e4m3fn's largest finite value) and never smaller than
``MIN_SCALE``, so an all-zero token, head or tensor gets a finite scale instead of a divide by zero.
"""

from __future__ import annotations

import torch

FP8_MAX = 448.0  # largest finite float8_e4m3fn
MIN_SCALE = 1e-12  # smallest scale: keeps the scale of all-zero data finite


def fp8_scale(amax: torch.Tensor) -> torch.Tensor:
    """The float32 FP8 scale for an absolute maximum: ``amax / 448``, at least ``MIN_SCALE``."""
    return (amax.float() / FP8_MAX).clamp_min(MIN_SCALE)


def to_fp8(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x / scale`` rounded to float8_e4m3fn, saturating at ±448 (``scale`` broadcasts against ``x``)."""
    return (x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)


def fp8_round_trip(x: torch.Tensor, dims: tuple[int, ...] | None = (-1,)) -> torch.Tensor:
    """Quantize to FP8 with one amax scale per slice over ``dims`` (None: one for the whole tensor), and back.

    ``dims=(-1,)`` is per token (per row), ``(-2, -1)`` per batch row and head of [B, H, T, D].
    """
    amax = x.abs().amax() if dims is None else x.abs().amax(dim=dims, keepdim=True)
    scale = fp8_scale(amax)
    return (to_fp8(x, scale).float() * scale).to(x.dtype)
