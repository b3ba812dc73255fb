"""Static KV cache ``[B, H_kv, max_len, D]`` in BF16 or FP8 (e4m3 bits stored as uint8).

FP8 entries carry a float32 scale per (batch row, KV head, position), written together with the entry
by the configured scale policy, so one buffer serves every policy:

- ``static`` / ``static_text_only``: one scalar per layer (the max over heads of ``KVScales``; the two
  names differ only in the data the scales were calibrated on);
- ``per_head``: ``KVScales[layer, head]``;
- ``visual_aware``: ``KVScales.*_visual[layer, head]`` for visual positions, the text set elsewhere;
- ``dynamic``: amax of each written token and head / 448.

``index_copy_`` is not implemented for ``float8_e4m3fn``, hence the uint8 storage viewed as FP8.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from vlmq.engine.types import VISUAL, KVConfig, validate_kv_config
from vlmq.models.layout import head_dim_of
from vlmq.numerics import FP8_MAX, fp8_scale, to_fp8  # noqa: F401 - FP8_MAX re-exported for older callers


def quantize_fp8(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x`` [..., D] / ``scale`` [...] → FP8 e4m3 bits as uint8 (saturating at ±448)."""
    return to_fp8(x, scale.unsqueeze(-1)).view(torch.uint8)


def dequantize_fp8(bits: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return (bits.view(torch.float8_e4m3fn).float() * scale.unsqueeze(-1)).to(dtype)


def per_layer_scale_tables(kv: KVConfig, num_layers: int, num_kv_heads: int) -> tuple[torch.Tensor, ...] | None:
    """(k_text, v_text, k_visual, v_visual), each [num_layers, num_kv_heads] float32, or None for dynamic."""
    if kv.dtype != "fp8" or kv.strategy == "dynamic":
        return None
    s = kv.scales
    k, v = s.k.float(), s.v.float()
    if kv.strategy in ("static", "static_text_only"):
        k = k.amax(dim=1, keepdim=True).expand(num_layers, num_kv_heads)
        v = v.amax(dim=1, keepdim=True).expand(num_layers, num_kv_heads)
    if kv.strategy == "visual_aware":
        return k, v, s.k_visual.float(), s.v_visual.float()
    return k, v, k, v


class LayerKV(NamedTuple):
    """One layer's cache tensors; a plain tuple of tensors so compiled code takes it as graph inputs."""

    k: torch.Tensor  # [B, H, L, D] compute dtype, or uint8 FP8 bits
    v: torch.Tensor
    k_scale: torch.Tensor | None  # [B, H, L] float32 (FP8 only)
    v_scale: torch.Tensor | None
    tables: tuple[torch.Tensor, ...] | None  # (k_text, v_text, k_visual, v_visual) [H] each; None = dynamic


def write_kv(kv: LayerKV, k: torch.Tensor, v: torch.Tensor, pos: torch.Tensor, token_type: torch.Tensor) -> None:
    """Store ``k``/``v`` [B, H, T, D] at slots ``pos`` [T]; ``token_type`` [B, T] picks FP8 scales."""
    b = k.shape[0]
    if kv.k_scale is None:
        kv.k[:b].index_copy_(2, pos, k.to(kv.k.dtype))
        kv.v[:b].index_copy_(2, pos, v.to(kv.v.dtype))
        return
    k_scale, v_scale = fp8_scales(kv.tables, k, v, token_type)
    kv.k[:b].index_copy_(2, pos, quantize_fp8(k, k_scale))
    kv.v[:b].index_copy_(2, pos, quantize_fp8(v, v_scale))
    kv.k_scale[:b].index_copy_(2, pos, k_scale)
    kv.v_scale[:b].index_copy_(2, pos, v_scale)


def read_kv(kv: LayerKV, batch: int, length: int | None, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """K/V of the first ``length`` slots (all when None) in the compute dtype (FP8 dequantized)."""
    end = kv.k.shape[2] if length is None else length
    k, v = kv.k[:batch, :, :end], kv.v[:batch, :, :end]
    if kv.k_scale is None:
        return k, v
    return (
        dequantize_fp8(k, kv.k_scale[:batch, :, :end], dtype),
        dequantize_fp8(v, kv.v_scale[:batch, :, :end], dtype),
    )


def fp8_scales(tables, k: torch.Tensor, v: torch.Tensor, token_type: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scales [B, H, T] for the entries being written."""
    if tables is None:  # dynamic: each token and head gets its own amax / 448
        return fp8_scale(k.abs().amax(-1)), fp8_scale(v.abs().amax(-1))
    k_text, v_text, k_vis, v_vis = (t[None, :, None] for t in tables)
    is_visual = (token_type == VISUAL)[:, None, :]
    shape = k.shape[:3]
    return (
        torch.where(is_visual, k_vis, k_text).expand(shape).contiguous(),
        torch.where(is_visual, v_vis, v_text).expand(shape).contiguous(),
    )


class StaticKVCache:
    """Per-layer K/V buffers plus, for FP8, their per-position scales."""

    def __init__(
        self,
        *,
        num_layers: int,
        max_batch_size: int,
        num_kv_heads: int,
        max_seq_len: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device,
        kv: KVConfig,
    ):
        validate_kv_config(kv, num_layers, num_kv_heads)
        self.kv = kv
        self.dtype = dtype
        self.is_fp8 = kv.dtype == "fp8"
        shape = (max_batch_size, num_kv_heads, max_seq_len, head_dim)
        store_dtype = torch.uint8 if self.is_fp8 else dtype
        self.k = [torch.zeros(shape, dtype=store_dtype, device=device) for _ in range(num_layers)]
        self.v = [torch.zeros(shape, dtype=store_dtype, device=device) for _ in range(num_layers)]
        self.k_scale: list[torch.Tensor] = []
        self.v_scale: list[torch.Tensor] = []
        self.tables: list[tuple[torch.Tensor, ...]] | None = None  # per layer: (k_text, v_text, k_visual, v_visual)
        if self.is_fp8:
            self.k_scale = [torch.zeros(shape[:3], dtype=torch.float32, device=device) for _ in range(num_layers)]
            self.v_scale = [torch.zeros(shape[:3], dtype=torch.float32, device=device) for _ in range(num_layers)]
            tables = per_layer_scale_tables(kv, num_layers, num_kv_heads)
            # one allocation per layer and table, not rows of one [layers, heads] tensor: a row of 2 float32 heads
            # starts 8 bytes after the last, and Inductor copies inputs that are not 16-byte aligned before every
            # call of the compiled layer (four copy kernels a layer on every odd layer of qwen2-vl-2b on the H200)
            self.tables = (
                None
                if tables is None
                else [tuple(t[idx].to(device, copy=True).contiguous() for t in tables) for idx in range(num_layers)]
            )

    @classmethod
    def for_text_config(
        cls, text_config, *, batch: int, seq_len: int, dtype: torch.dtype, device, kv: KVConfig
    ) -> StaticKVCache:
        """A cache of ``batch`` rows x ``seq_len`` slots sized for the decoder that ``text_config`` describes."""
        return cls(
            num_layers=text_config.num_hidden_layers,
            max_batch_size=batch,
            num_kv_heads=text_config.num_key_value_heads,
            max_seq_len=seq_len,
            head_dim=head_dim_of(text_config),
            dtype=dtype,
            device=device,
            kv=kv,
        )

    @property
    def max_batch_size(self) -> int:
        return self.k[0].shape[0]

    @property
    def max_seq_len(self) -> int:
        return self.k[0].shape[2]

    def nbytes(self) -> int:
        """Bytes held by K/V entries and their scales (what the KV cache costs in memory)."""
        return sum(t.numel() * t.element_size() for t in (*self.k, *self.v, *self.k_scale, *self.v_scale))

    def layer(self, idx: int) -> LayerKV:
        if not self.is_fp8:
            return LayerKV(self.k[idx], self.v[idx], None, None, None)
        tables = None if self.tables is None else self.tables[idx]
        return LayerKV(self.k[idx], self.v[idx], self.k_scale[idx], self.v_scale[idx], tables)

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor, pos: torch.Tensor, token_type: torch.Tensor) -> None:
        write_kv(self.layer(layer), k, v, pos, token_type)

    def read(self, layer: int, batch: int, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return read_kv(self.layer(layer), batch, length, self.dtype)
