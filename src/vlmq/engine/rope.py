"""Multimodal RoPE (M-RoPE) of the Qwen2-VL family: position ids and rotary embedding.

Position ids come from the model's own ``get_rope_index`` (3 axes: temporal, height, width; text tokens
use the same value on all three). The rotary tables are computed here — the same arithmetic as HF's
``Qwen2VLRotaryEmbedding`` — so the compiled decode step needs no HF module call.
"""

from __future__ import annotations

import torch


def mrope_section(text_config) -> list[int]:
    """The [t, h, w] split of head_dim/2 frequencies (transformers 5.x ``rope_parameters``)."""
    params = getattr(text_config, "rope_parameters", None) or getattr(text_config, "rope_scaling", None) or {}
    return list(params.get("mrope_section", [16, 24, 24]))


def prompt_position_ids(
    model,
    input_ids: torch.Tensor,
    mm_token_type_ids: torch.Tensor,
    image_grid_thw: torch.Tensor | None,
    attention_mask: torch.Tensor,
) -> torch.Tensor:
    """M-RoPE ids [3, B, T] for a left-padded prompt batch (padding slots get 0). On CPU tensors: HF's
    ``get_rope_index`` walks each row with boolean indexing, ``tolist`` and per-image ops, which on device
    tensors are a chain of syncs and tiny launches (the GPU idles between them)."""
    position_ids, _ = model.model.get_rope_index(
        input_ids=input_ids,
        mm_token_type_ids=mm_token_type_ids,
        image_grid_thw=image_grid_thw,
        attention_mask=attention_mask,
    )
    return position_ids


def mrope_cos_sin(
    position_ids: torch.Tensor, inv_freq: torch.Tensor, section: list[int], dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [B, T, head_dim] for ids [3, B, T]: each frequency band takes its own axis."""
    freqs = position_ids[..., None].float() * inv_freq.float()  # [3, B, T, head_dim/2]
    bands = freqs.split(section, dim=-1)
    freqs = torch.cat([band[i % 3] for i, band in enumerate(bands)], dim=-1)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [B, H, T, D] by tables [B, T, D]."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return x * cos + rotate_half(x) * sin


def prompt_position_ids_on(model, host_batch, device: torch.device) -> torch.Tensor:
    """``prompt_position_ids`` computed on the host from the batch's CPU tensors, then copied to ``device``
    without blocking the host (pinned), so it overlaps work already queued on the device (the vision tower)."""
    ids = prompt_position_ids(
        model, host_batch.input_ids, host_batch.mm_token_type_ids, host_batch.image_grid_thw, host_batch.attention_mask
    )
    if torch.device(device).type != "cuda":
        return ids.to(device)
    return ids.pin_memory().to(device, non_blocking=True)
