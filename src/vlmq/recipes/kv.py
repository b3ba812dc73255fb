"""FP8 KV-cache scale strategies and their calibration (the FP8 storage itself lives in the engine).

A scale is ``amax * margin / 448`` (448 = float8_e4m3fn max), float32, shaped [layers, kv_heads]:
- ``static``: one per-tensor scale per layer, from calibration prompts incl. images (TensorRT-LLM's recipe).
- ``static_text_only``: the same from text tokens only: the setting that reproduced the original
  study's failure, since visual-token K/V are larger than text ones and then saturate.
- ``per_head``: one scale per layer and KV head.
- ``dynamic``: no stored scales; the engine computes them per token.
- ``visual_aware``: per-layer scales for text tokens and separate ones for visual tokens (the remedy).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from vlmq.engine.kv_cache import FP8_MAX
from vlmq.engine.types import GENERATED, KV_STRATEGIES, TEXT, VISUAL, KVConfig, KVScales
from vlmq.errors import VlmqError

from .calibration import CalibrationSet, without_images

_TOKEN_TYPES = 3  # TEXT, VISUAL, GENERATED (padding, -1, is never counted)
_MIN_SCALE = 1e-8  # a layer that saw only zeros must not get a zero (divide-by-zero) scale


@dataclass(frozen=True)
class KVStats:
    """Absolute maxima of K and V, float32 [layers, kv_heads, token_type]; 0 where a type was unseen."""

    k_amax: torch.Tensor
    v_amax: torch.Tensor


class KVAmaxObserver:
    """``observer(layer_idx, k, v, token_type)`` for ``Engine.observe``: running amax per layer/head/type."""

    def __init__(self):
        self._k: dict[int, torch.Tensor] = {}
        self._v: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor, token_type: torch.Tensor) -> None:
        for store, x in ((self._k, k), (self._v, v)):
            amax = _amax_by_token_type(x, token_type)
            store[layer_idx] = torch.maximum(store[layer_idx], amax) if layer_idx in store else amax

    def stats(self) -> KVStats:
        if not self._k:
            raise VlmqError("KV observer saw no decoder layer; run calibration prompts under engine.observe()")
        layers = sorted(self._k)
        if layers != list(range(len(layers))):
            raise VlmqError(f"KV observer saw layers {layers}, not 0..{len(layers) - 1}; observe every layer")
        return KVStats(torch.stack([self._k[i] for i in layers]), torch.stack([self._v[i] for i in layers]))


def _amax_by_token_type(x: torch.Tensor, token_type: torch.Tensor) -> torch.Tensor:
    """[B, H, T, D] and [B, T] -> [H, token_type] absolute maxima (0 where a type is absent)."""
    per_token = x.detach().abs().amax(dim=-1).float()  # [B, H, T]
    columns = []
    for kind in range(_TOKEN_TYPES):
        mask = (token_type == kind).to(per_token.device)[:, None, :]  # [B, 1, T]
        columns.append(per_token.masked_fill(~mask, 0.0).amax(dim=(0, 2)))
    return torch.stack(columns, dim=-1)


def kv_scales_from_stats(stats: KVStats, strategy: str, margin: float = 1.0) -> KVScales | None:
    """Pure: turn observed amax into the scales a strategy stores (None for ``dynamic``)."""
    _check_strategy(strategy)
    if margin <= 0:
        raise VlmqError(f"KV scale margin must be > 0 (got {margin})")
    if strategy == "dynamic":
        return None
    k, v = stats.k_amax, stats.v_amax
    if strategy == "static":
        return KVScales(_per_layer(k.amax(-1), margin), _per_layer(v.amax(-1), margin))
    if strategy == "per_head":
        return KVScales(_to_scale(k.amax(-1), margin), _to_scale(v.amax(-1), margin))
    text_k, text_v = _text_amax(k), _text_amax(v)
    if strategy == "static_text_only":
        return KVScales(_per_layer(text_k, margin), _per_layer(text_v, margin))
    if not bool((k[..., VISUAL] > 0).any()):
        raise VlmqError("visual_aware KV scales need calibration prompts with images; drop text_only")
    return KVScales(
        _per_layer(text_k, margin),
        _per_layer(text_v, margin),
        k_visual=_per_layer(k[..., VISUAL], margin),
        v_visual=_per_layer(v[..., VISUAL], margin),
    )


def _text_amax(amax: torch.Tensor) -> torch.Tensor:
    """[L, H, type] -> [L, H] over non-visual tokens (prompt text and generated)."""
    return torch.maximum(amax[..., TEXT], amax[..., GENERATED])


def _per_layer(amax: torch.Tensor, margin: float) -> torch.Tensor:
    """One per-tensor scale per layer, broadcast over KV heads: [L, H]."""
    return _to_scale(amax.amax(dim=1, keepdim=True).expand_as(amax), margin)


def _to_scale(amax: torch.Tensor, margin: float) -> torch.Tensor:
    return (amax.float() * margin / FP8_MAX).clamp(min=_MIN_SCALE).contiguous()


def _check_strategy(strategy: str) -> None:
    if strategy not in KV_STRATEGIES:
        raise VlmqError(f"unknown KV scale strategy {strategy!r}; choose from: {', '.join(KV_STRATEGIES)}")


def calibrate_kv_scales(engine, calib: CalibrationSet, strategy: str, margin: float = 1.0) -> KVScales | None:
    """Observe K/V on the calibration prompts (prefill only) and compute the strategy's scales.

    ``static_text_only`` strips the images first (that is the setting); ``dynamic`` returns None.
    """
    _check_strategy(strategy)
    if strategy == "dynamic":
        return None
    if not calib.prompts:
        raise VlmqError("KV-scale calibration got an empty calibration set; use load_calibration('builtin')")
    if strategy == "static_text_only":
        calib = without_images(calib)
    observer = KVAmaxObserver()
    with engine.observe(observer):
        for prompt in calib.prompts:  # one at a time: no padding tokens in the statistics
            engine.next_token_logits([prompt])
    return kv_scales_from_stats(observer.stats(), strategy, margin)


def engine_options(spec) -> dict:
    """``Engine(...)`` keyword arguments of a recipe (a ``RecipeSpec``): its KV cache (BF16 until calibrated
    scales exist) and its FP8-attention switch."""
    return {"kv": KVConfig() if spec.kv_needs_calibration else spec.kv, "fp8_attention": spec.fp8_attention}


def prepare_engine(engine, spec, calibration: CalibrationSet | None) -> dict | None:
    """Give ``engine`` (built with ``engine_options(spec)``) the KV cache the recipe asks for, calibrating its
    FP8 scales on ``calibration`` where the strategy needs them (text-only prompts for ``kv_fp8_text``).

    Returns the summary of the corpus the KV scales were calibrated on, or None when none was needed.
    """
    if not spec.kv_needs_calibration:
        if engine.kv != spec.kv:
            engine.set_kv(spec.kv)
        return None
    if calibration is None:
        raise VlmqError(
            f"recipe {spec.name!r} calibrates FP8 KV scales but got no calibration set; "
            "pass load_calibration('builtin')"
        )
    if spec.kv.strategy == "static_text_only":
        calibration = without_images(calibration)
    engine.set_kv(dataclasses.replace(spec.kv, scales=calibrate_kv_scales(engine, calibration, spec.kv.strategy)))
    return calibration.summary
