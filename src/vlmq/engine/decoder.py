"""The text decoder's forward pass, run layer by layer with the model's own modules.

Every projection is the model's ``nn.Linear`` or a recipe's quantized linear (``vlmq.engine.qlinear``) and every
norm and MLP is the model's module: the readable reference the compiled path is held to, and what
observers see. What the engine owns:
M-RoPE, the static KV cache, attention and the mask for left-padded batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vlmq.engine.kv_cache import LayerKV, StaticKVCache, read_kv, write_kv
from vlmq.engine.rope import apply_rope, mrope_cos_sin, mrope_section
from vlmq.numerics import fp8_round_trip


@dataclass
class StepInputs:
    """What one decoder pass (prefill of T tokens, or one decode step with T = 1) needs."""

    embeds: torch.Tensor  # [B, T, hidden]
    position_ids: torch.Tensor  # [3, B, T] M-RoPE ids
    write_pos: torch.Tensor  # [T] cache slots the new K/V go to
    token_type: torch.Tensor  # [B, T] 0 text / 1 visual / 2 generated / -1 padding
    mask: torch.Tensor  # [B, 1, T, S] bool, True = may attend
    read_len: int | None = None  # attend over cache slots [0, read_len); None = the whole cache

    def layer_inputs(self, cos: torch.Tensor, sin: torch.Tensor, kv: LayerKV) -> tuple:
        """What every layer function (``layer_forward``, the compiled path's ``fused_layer``) takes after the
        hidden states, in order: cos, sin, write_pos, token_type, mask, the layer's cache, read_len."""
        return cos, sin, self.write_pos, self.token_type, self.mask, kv, self.read_len


def attention_mask(key_valid: torch.Tensor, write_pos: torch.Tensor, read_len: int) -> torch.Tensor:
    """[B, 1, T, S] causal mask over cache slots that skips padding; a padding query sees itself
    (so no row is fully masked and softmax stays finite)."""
    slots = torch.arange(read_len, device=key_valid.device)
    causal = slots[None, :] <= write_pos[:, None]  # [T, S]
    own = slots[None, :] == write_pos[:, None]  # [T, S]
    valid = key_valid[:, None, :read_len]  # [B, 1, S]
    return (causal[None] & (valid | own[None])).unsqueeze(1)


SDPA_MASK_ALIGN = 16  # elements: a mask row stride SDPA's fused kernels take without a padded copy


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``mask`` [B, 1, T, S] (bool, True = may attend) as the additive mask SDPA makes of it (0 where True, -inf
    elsewhere, in ``dtype``), its rows at 16-element strides. Made once per prefill: given the boolean mask,
    every layer's SDPA call converted it and copied it to aligned rows again, one kernel a layer (1.8 us in the
    qwen2-vl-2b first token on the H200, eighth session's profile)."""
    b, h, t, s = mask.shape
    padded = -(-s // SDPA_MASK_ALIGN) * SDPA_MASK_ALIGN
    out = torch.full((b, h, t, padded), float("-inf"), dtype=dtype, device=mask.device)
    out[..., :s].masked_fill_(mask, 0.0)
    return out[..., :s]


def emulated_fp8_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Attention whose Q, K, V (per batch row and head) and probabilities pass through FP8 (emulated).

    Probabilities are cast without a scale, as FP8 flash attention does: after the max-subtracted
    softmax they lie in [0, 1], so the largest is exact and tiny ones flush to zero.
    """
    q, k, v = (fp8_round_trip(t, dims=(-2, -1)) for t in (q, k, v))
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    scores = (q.float() @ k.float().transpose(-1, -2)) * q.shape[-1] ** -0.5
    probs = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    probs = probs.to(torch.float8_e4m3fn).float()
    return (probs @ v.float()).to(q.dtype)


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=q.shape[1] != k.shape[1])


class DenseAttention:
    """Read (dequantize) the cache slots [0, read_len), then run an attention function over them."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, q: torch.Tensor, kv: LayerKV, read_len: int | None, mask: torch.Tensor) -> torch.Tensor:
        k, v = read_kv(kv, q.shape[0], read_len, q.dtype)
        return self.fn(q, k, v, mask)


@dataclass(frozen=True)
class DecoderShape:
    num_heads: int
    num_kv_heads: int
    head_dim: int


def layer_forward(
    layer,
    x,
    cos,
    sin,
    write_pos,
    token_type,
    mask,
    kv: LayerKV,
    read_len,
    shape: DecoderShape,
    attend,
    observer=None,
    idx: int = 0,
) -> torch.Tensor:
    """One decoder layer over the static cache through the model's own modules (the readable reference
    the compiled path, ``vlmq.engine.compiled``, is held to)."""
    b, t, _ = x.shape
    attn = layer.self_attn
    h = layer.input_layernorm(x)
    q = attn.q_proj(h).view(b, t, shape.num_heads, shape.head_dim).transpose(1, 2)
    k = attn.k_proj(h).view(b, t, shape.num_kv_heads, shape.head_dim).transpose(1, 2)
    v = attn.v_proj(h).view(b, t, shape.num_kv_heads, shape.head_dim).transpose(1, 2)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    if observer is not None:
        observer(idx, k, v, token_type)
    write_kv(kv, k, v, write_pos, token_type)
    out = attend(q, kv, read_len, mask)
    x = x + attn.o_proj(out.transpose(1, 2).reshape(b, t, shape.num_heads * shape.head_dim))
    return x + layer.mlp(layer.post_attention_layernorm(x))


class TextDecoder:
    """Layer loop of a Qwen2-VL(-2.5) text decoder over a static KV cache (eager)."""

    def __init__(self, model, *, fp8_attention: bool = False):
        from vlmq.models.layout import head_dim_of, text_decoder

        lm = text_decoder(model)
        cfg = model.config.get_text_config()
        self.layers = lm.layers
        self.norm = lm.norm
        self.embed_tokens = lm.embed_tokens
        self.lm_head = model.lm_head
        self.num_layers = cfg.num_hidden_layers
        self.num_kv_heads = cfg.num_key_value_heads
        self.head_dim = head_dim_of(cfg)
        self.shape = DecoderShape(cfg.num_attention_heads, cfg.num_key_value_heads, self.head_dim)
        self.inv_freq = lm.rotary_emb.inv_freq
        self.section = mrope_section(cfg)
        self.fp8_attention = fp8_attention
        self.attend = DenseAttention(emulated_fp8_attention if fp8_attention else sdpa_attention)
        self.observer = None

    def rope_tables(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return mrope_cos_sin(position_ids, self.inv_freq, self.section, dtype)

    def forward(self, step: StepInputs, cache: StaticKVCache) -> torch.Tensor:
        """Final-normed hidden states [B, T, hidden]; writes the new K/V into ``cache``."""
        x = step.embeds
        cos, sin = self.rope_tables(step.position_ids, x.dtype)
        for idx, layer in enumerate(self.layers):
            inputs = step.layer_inputs(cos, sin, cache.layer(idx))
            x = layer_forward(layer, x, *inputs, self.shape, self.attend, self.observer, idx)
        return self.norm(x)

    def logits(self, hidden_last: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden_last)
