"""The engine's public data types (the contract in docs/architecture.md, section vlmq.engine)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vlmq.errors import VlmqError

KV_DTYPES = ("bf16", "fp8")
KV_STRATEGIES = ("static", "static_text_only", "per_head", "dynamic", "visual_aware")

# Token types seen by observers and by the KV scale policy. PADDING marks left-padding slots of a
# batch (an extension of the contract's 0/1/2; observers that select 0, 1 or 2 never see padding).
TEXT, VISUAL, GENERATED, PADDING = 0, 1, 2, -1


@dataclass(frozen=True)
class Prompt:
    text: str  # the user turn's text (task prompt incl. suffix)
    image: "PIL.Image.Image | None" = None  # noqa: F821 (PIL is imported lazily by callers)


@dataclass
class Generation:
    text: str  # decoded new tokens, special tokens skipped
    token_ids: list[int]
    n_prompt_tokens: int
    n_visual_tokens: int
    timings: dict[str, float] = field(default_factory=dict)  # per batch: vision_ms, prefill_ms, ...


@dataclass(frozen=True)
class KVScales:
    """absmax/448-style FP8 scales, float32, shape [num_layers, num_kv_heads]."""

    k: torch.Tensor
    v: torch.Tensor
    k_visual: torch.Tensor | None = None  # visual-aware remedy: separate scales for visual tokens
    v_visual: torch.Tensor | None = None


@dataclass(frozen=True)
class KVConfig:
    dtype: str = "bf16"  # "bf16" | "fp8" (float8_e4m3fn stored as uint8)
    strategy: str = "static"  # static | static_text_only | per_head | dynamic | visual_aware
    scales: KVScales | None = None  # required for every fp8 strategy except "dynamic"

    @classmethod
    def for_kind(cls, kind: str, scales: KVScales | None = None) -> KVConfig:
        """A cache named by one word: "bf16", or an FP8 scale strategy with its ``scales`` (dropped for
        "dynamic", which scales each entry itself)."""
        if kind == "bf16":
            return cls()
        return cls("fp8", kind, None if kind == "dynamic" else scales)


def validate_kv_config(kv: KVConfig, num_layers: int, num_kv_heads: int) -> None:
    """Raise VlmqError when ``kv`` cannot drive a cache of this shape."""
    if kv.dtype not in KV_DTYPES:
        raise VlmqError(f"unknown KV cache dtype {kv.dtype!r}; choose from: {', '.join(KV_DTYPES)}")
    if kv.strategy not in KV_STRATEGIES:
        raise VlmqError(f"unknown KV scale strategy {kv.strategy!r}; choose from: {', '.join(KV_STRATEGIES)}")
    if kv.dtype != "fp8" or kv.strategy == "dynamic":
        return
    if kv.scales is None:
        raise VlmqError(
            f"KV strategy {kv.strategy!r} needs calibrated scales; run "
            "vlmq.recipes.calibrate_kv_scales(...) or use strategy='dynamic'"
        )
    expected = (num_layers, num_kv_heads)
    tensors = {"k": kv.scales.k, "v": kv.scales.v}
    if kv.strategy == "visual_aware":
        if kv.scales.k_visual is None or kv.scales.v_visual is None:
            raise VlmqError(
                "KV strategy 'visual_aware' needs KVScales.k_visual and v_visual; calibrate "
                "with strategy='visual_aware'"
            )
        tensors.update(k_visual=kv.scales.k_visual, v_visual=kv.scales.v_visual)
    for name, scale in tensors.items():
        if tuple(scale.shape) != expected:
            raise VlmqError(
                f"KVScales.{name} has shape {tuple(scale.shape)}, expected {expected} "
                "(num_layers, num_kv_heads); recalibrate for this model"
            )
        if not bool(torch.isfinite(scale).all()) or bool((scale <= 0).any()):
            raise VlmqError(f"KVScales.{name} has non-positive or non-finite entries; recalibrate")
