"""The text decoder's forward pass, run layer by layer with the model's own modules.

Every projection is the model's ``nn.Linear`` (possibly swapped by a torchao recipe) and every norm and
MLP is the model's module, so a recipe's quantized kernels run here unchanged. What the engine owns:
M-RoPE, the static KV cache, attention and the mask for left-padded batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vlmq.engine.kv_cache import FP8_MAX, MIN_SCALE, StaticKVCache
from vlmq.engine.rope import apply_rope, mrope_cos_sin, mrope_section


@dataclass
class StepInputs:
    """What one decoder pass (prefill of T tokens, or one decode step with T = 1) needs."""

    embeds: torch.Tensor          # [B, T, hidden]
    position_ids: torch.Tensor    # [3, B, T] M-RoPE ids
    write_pos: torch.Tensor       # [T] cache slots the new K/V go to
    token_type: torch.Tensor      # [B, T] 0 text / 1 visual / 2 generated / -1 padding
    mask: torch.Tensor            # [B, 1, T, S] bool, True = may attend
    read_len: int | None = None   # attend over cache slots [0, read_len); None = the whole cache


def attention_mask(key_valid: torch.Tensor, write_pos: torch.Tensor, read_len: int) -> torch.Tensor:
    """[B, 1, T, S] causal mask over cache slots that skips padding; a padding query sees itself
    (so no row is fully masked and softmax stays finite)."""
    slots = torch.arange(read_len, device=key_valid.device)
    causal = slots[None, :] <= write_pos[:, None]                       # [T, S]
    own = slots[None, :] == write_pos[:, None]                          # [T, S]
    valid = key_valid[:, None, :read_len]                               # [B, 1, S]
    return (causal[None] & (valid | own[None])).unsqueeze(1)


def fp8_roundtrip(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Emulated FP8 e4m3: quantize with an amax/448 scale over ``dims`` and dequantize."""
    scale = (x.abs().amax(dim=dims, keepdim=True).float() / FP8_MAX).clamp_min(MIN_SCALE)
    return ((x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn).float() * scale).to(x.dtype)


def emulated_fp8_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Attention whose Q, K, V (per batch row and head) and probabilities pass through FP8 (emulated).

    Probabilities are cast without a scale, as FP8 flash attention does: after the max-subtracted
    softmax they lie in [0, 1], so the largest is exact and tiny ones flush to zero.
    """
    q, k, v = (fp8_roundtrip(t, dims=(-2, -1)) for t in (q, k, v))
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    scores = (q.float() @ k.float().transpose(-1, -2)) * q.shape[-1] ** -0.5
    probs = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    probs = probs.to(torch.float8_e4m3fn).float()
    return (probs @ v.float()).to(q.dtype)


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=q.shape[1] != k.shape[1])


class TextDecoder:
    """Layer loop of a Qwen2-VL(-2.5) text decoder over a static KV cache."""

    def __init__(self, model, *, fp8_attention: bool = False):
        lm = model.model.language_model
        cfg = model.config.get_text_config()
        self.layers = lm.layers
        self.norm = lm.norm
        self.embed_tokens = lm.embed_tokens
        self.lm_head = model.lm_head
        self.num_layers = cfg.num_hidden_layers
        self.num_heads = cfg.num_attention_heads
        self.num_kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.inv_freq = lm.rotary_emb.inv_freq
        self.section = mrope_section(cfg)
        self.attend = emulated_fp8_attention if fp8_attention else sdpa_attention
        self.observer = None

    def forward(self, step: StepInputs, cache: StaticKVCache) -> torch.Tensor:
        """Final-normed hidden states [B, T, hidden]; writes the new K/V into ``cache``."""
        x = step.embeds
        cos, sin = mrope_cos_sin(step.position_ids, self.inv_freq, self.section, x.dtype)
        for idx, layer in enumerate(self.layers):
            x = x + self._attention_block(idx, layer, x, cos, sin, step, cache)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self.norm(x)

    def _attention_block(self, idx, layer, x, cos, sin, step: StepInputs, cache: StaticKVCache) -> torch.Tensor:
        b, t, _ = x.shape
        attn = layer.self_attn
        h = layer.input_layernorm(x)
        q = attn.q_proj(h).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = attn.k_proj(h).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = attn.v_proj(h).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.observer is not None:
            self.observer(idx, k, v, step.token_type)
        cache.write(idx, k, v, step.write_pos, step.token_type)
        k_all, v_all = cache.read(idx, b, step.read_len)
        out = self.attend(q, k_all, v_all, step.mask)
        return attn.o_proj(out.transpose(1, 2).reshape(b, t, self.num_heads * self.head_dim))

    def logits(self, hidden_last: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden_last)
