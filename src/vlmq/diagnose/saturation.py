"""Saturation, underflow and SQNR of the FP8 KV cache under a recipe's own scales, per layer and token type.

The probe quantizes what the engine is about to write with the same scale policy and the same FP8
round trip as the cache (``vlmq.engine.kv_cache``), so the numbers describe the deployed cache: a
value saturates when |x / scale| reaches 464, halfway from 448 (e4m3's largest finite value) to the
next step (480, not representable), i.e. where clipping costs more than ordinary rounding would —
below it, even the amax that a scale was computed from (448 up to float error) counts as in range;
a value underflows when it is non-zero but dequantizes to 0; SQNR = 10·log10(Σx² / Σ(x − x̂)²).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from vlmq.engine.kv_cache import dequantize_fp8, fp8_scales, per_layer_scale_tables, quantize_fp8
from vlmq.engine.types import KVConfig
from vlmq.errors import VlmqError
from vlmq.numerics import FP8_MAX

from .probes import TOKEN_TYPES

_FIELDS = ("n", "saturated", "underflow", "signal", "noise")
SATURATION_LIMIT = FP8_MAX + 16.0  # 464: round-to-nearest would leave 448 for the non-existent 480


def kv_scale_tables(kv: KVConfig, num_layers: int, num_kv_heads: int):
    """Per-layer tables the cache would use: (k_text, v_text, k_visual, v_visual) [L, H], or None (dynamic)."""
    if kv.dtype != "fp8":
        raise VlmqError("saturation needs an FP8 KV cache; add a kv_fp8* switch to the recipe (see vlmq recipes)")
    return per_layer_scale_tables(kv, num_layers, num_kv_heads)


class KVSaturationProbe:
    """Observer accumulating saturation/underflow counts and SQNR power sums for FP8 K/V."""

    def __init__(self, tables):
        self.tables = tables
        self._sums: dict[tuple[int, str, int], dict[str, float]] = defaultdict(lambda: dict.fromkeys(_FIELDS, 0.0))

    @torch.no_grad()
    def __call__(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor, token_type: torch.Tensor) -> None:
        layer_tables = None if self.tables is None else tuple(t[layer_idx].to(k.device) for t in self.tables)
        k_scale, v_scale = fp8_scales(layer_tables, k, v, token_type)
        for name, x, scale in (("k", k, k_scale), ("v", v, v_scale)):
            stats = round_trip_stats(x, scale)
            for kind in TOKEN_TYPES:
                mask = (token_type == kind).to(x.device)[:, None, :].expand(scale.shape)  # [B, H, T]
                if bool(mask.any()):
                    acc = self._sums[(layer_idx, name, kind)]
                    for field in _FIELDS:
                        acc[field] += float(stats[field][mask].sum())

    def rows(self, recipe: str) -> list[dict]:
        """``saturation.csv`` rows: recipe, layer, tensor, token_type, saturated_frac, underflow_frac, sqnr_db."""
        return [
            {
                "recipe": recipe,
                "layer": layer,
                "tensor": name,
                "token_type": TOKEN_TYPES[kind],
                "saturated_frac": acc["saturated"] / acc["n"],
                "underflow_frac": acc["underflow"] / acc["n"],
                "sqnr_db": sqnr_db(acc["signal"], acc["noise"]),
                "n": int(acc["n"]),
            }
            for (layer, name, kind), acc in sorted(self._sums.items())
        ]


def round_trip_stats(x: torch.Tensor, scale: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per (B, H, T) position: element count, saturated and underflowed counts, signal and noise power."""
    xf = x.float()
    deq = dequantize_fp8(quantize_fp8(x, scale), scale, torch.float32)
    return {
        "n": torch.full(scale.shape, float(x.shape[-1]), device=x.device),
        "saturated": ((xf / scale.unsqueeze(-1)).abs() >= SATURATION_LIMIT).float().sum(-1),
        "underflow": ((xf != 0) & (deq == 0)).float().sum(-1),
        "signal": xf.square().sum(-1),
        "noise": (xf - deq).square().sum(-1),
    }


def sqnr_db(signal: float, noise: float) -> float:
    """10·log10(signal/noise); +inf for an exact round trip."""
    if noise <= 0:
        return math.inf
    return 10.0 * math.log10(max(signal, 1e-30) / noise)
