"""Qwen2-VL vision attention over equal-size images as one batched SDPA call, for the toy trainer.

The HF non-flash path loops over the images of a batch; with hundreds of 16-token shapes images per
step that loop, not the model, is the cost. The batched form is mathematically the same; it is used
only after it gave the original's features on real images, and only inside ``batched_vision_attention``.
"""

from __future__ import annotations

import contextlib

import torch


def _batched_forward(original, rotary):
    def forward(self, hidden_states, cu_seqlens, *args, position_embeddings=None, **kwargs):
        lengths = cu_seqlens[1:] - cu_seqlens[:-1]
        n_img, seq = lengths.numel(), hidden_states.shape[0]
        if args or position_embeddings is None or n_img < 2 or seq % n_img or not bool((lengths == seq // n_img).all()):
            return original(self, hidden_states, cu_seqlens, *args, position_embeddings=position_embeddings, **kwargs)
        q, k, v = self.qkv(hidden_states).reshape(seq, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        cos, sin = position_embeddings
        q, k = rotary(q, k, cos, sin)
        per = seq // n_img
        q, k, v = (t.reshape(n_img, per, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=self.scaling)
        return self.proj(out.transpose(1, 2).reshape(seq, -1))

    return forward


def _features(out) -> torch.Tensor:
    out = out.pooler_output if hasattr(out, "pooler_output") else out
    return torch.cat(list(out)) if isinstance(out, (list, tuple)) else out


@contextlib.contextmanager
def batched_vision_attention(model, pixel_values: torch.Tensor, grid_thw: torch.Tensor):
    """Inside the block, Qwen2-VL vision attention runs batched over equal-size images, provided
    ``model``'s vision tower gives the same features both ways on ``pixel_values`` (two images or more);
    yields whether it does. The original attention is back after the block."""
    from transformers.models.qwen2_vl import modeling_qwen2_vl as hf

    attention = getattr(hf, "VisionAttention", None)
    rotary = getattr(hf, "apply_rotary_pos_emb_vision", None)
    if attention is None or rotary is None:  # another transformers layout: keep its own path
        yield False
        return
    original = attention.forward
    try:
        yield _switch_if_same(model, pixel_values, grid_thw, attention, _batched_forward(original, rotary))
    finally:
        attention.forward = original


@torch.no_grad()
def _switch_if_same(model, pixel_values, grid_thw, attention, batched_forward) -> bool:
    """Install ``batched_forward`` and keep it only if the vision features stay the same."""
    original = attention.forward
    reference = _features(model.model.visual(pixel_values, grid_thw=grid_thw))
    attention.forward = batched_forward
    try:
        same = torch.allclose(
            reference, _features(model.model.visual(pixel_values, grid_thw=grid_thw)), atol=1e-4, rtol=1e-3
        )
    except Exception as err:  # noqa: BLE001 - any API mismatch: keep the original path
        print(f"batched vision attention unavailable ({err})", flush=True)
        same = False
    if not same:
        attention.forward = original
    return same
