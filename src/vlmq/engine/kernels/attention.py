"""Decode attention over the static KV cache (BF16 or FP8 entries), and its plain-math reference.

``vlmq::decode_attention`` reads FP8 entries directly (no BF16 copy of the cache); a pure-torch
reference (``decode_attention_reference``, built on ``grouped_attention``) runs on CPUs and in tests.
"""

from __future__ import annotations

import functools

import torch

from vlmq.engine.kv_cache import dequantize_fp8


def grouped_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Plain-math GQA attention (what Inductor fuses best for decode, as in gpt-fast): query head h
    reads KV head h // groups, like ``repeat_interleave``, without materialising repeated K/V."""
    b, hq, t, d = q.shape
    hkv, length = k.shape[1], k.shape[2]
    groups = hq // hkv
    scores = (q.reshape(b, hkv, groups * t, d) @ k.transpose(-1, -2)).float() * d ** -0.5
    scores = scores.view(b, hkv, groups, t, length).masked_fill(~mask.unsqueeze(2), float("-inf"))
    probs = scores.softmax(dim=-1).to(q.dtype).view(b, hkv, groups * t, length)
    return (probs @ v).view(b, hq, t, d)


# ----- decode attention over the static cache (BF16 or FP8 entries) ------------------------------------
ATTN_BLOCK_L = 64
ATTN_TARGET_PROGRAMS = 512


def decode_attention_reference(q, k, v, k_scale, v_scale, key_valid):
    """Dequantize the whole cache and run grouped attention (the unfused arithmetic)."""
    b = q.shape[0]
    k, v = k[:b], v[:b]
    if k_scale is not None:
        k, v = dequantize_fp8(k, k_scale[:b], q.dtype), dequantize_fp8(v, v_scale[:b], q.dtype)
    return grouped_attention(q, k.to(q.dtype), v.to(q.dtype), key_valid[:, None, None, :])


@torch.library.custom_op("vlmq::decode_attention", mutates_args=())
def decode_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_scale: torch.Tensor | None,
                     v_scale: torch.Tensor | None, key_valid: torch.Tensor) -> torch.Tensor:
    """One query token [B, Hq, 1, D] against cache [B_max, H_kv, L, D] (bf16, or uint8 FP8 bits with
    [B_max, H_kv, L] scales); ``key_valid`` [B, L] marks the slots to attend. Reads FP8 directly."""
    if q.device.type != "cuda":
        return decode_attention_reference(q, k, v, k_scale, v_scale, key_valid)
    return _launch_decode_attention(q, k, v, k_scale, v_scale, key_valid)


@decode_attention.register_fake
def _(q, k, v, k_scale, v_scale, key_valid):
    return torch.empty_like(q)


def attention_splits(batch_kv_heads: int, length: int) -> tuple[int, int]:
    """(splits, slots per split): enough programs to fill the GPU, each a whole number of blocks.

    Measured on the H100 (qwen2-vl-2b, ~350-token cache, batch 1): one pass of 6 blocks per KV head took
    12.2 us a layer, split into 6 programs plus the combine kernel 6.4 us, so short caches split too."""
    blocks = -(-length // ATTN_BLOCK_L)
    splits = max(1, min(blocks, ATTN_TARGET_PROGRAMS // max(batch_kv_heads, 1), 128))
    chunk = -(-blocks // splits) * ATTN_BLOCK_L
    return -(-length // chunk), chunk


def _launch_decode_attention(q, k, v, k_scale, v_scale, key_valid):
    split_kernel, combine_kernel = _decode_attention_kernels()
    b, hq, _, d = q.shape
    hkv, length = k.shape[1], k.shape[2]
    groups = hq // hkv
    g_pad = max(16, 1 << (groups - 1).bit_length())
    splits, chunk = attention_splits(b * hkv, length)
    is_fp8 = k_scale is not None
    q3 = q.reshape(b, hq, d).contiguous()
    part_acc = torch.empty((b * hkv, splits, g_pad, d), dtype=torch.float32, device=q.device)
    part_ml = torch.empty((2, b * hkv, splits, g_pad), dtype=torch.float32, device=q.device)
    valid = key_valid.view(torch.uint8) if key_valid.dtype == torch.bool else key_valid
    scale_k = k_scale if is_fp8 else q3
    scale_v = v_scale if is_fp8 else q3
    split_kernel[(b * hkv, splits)](
        q3, k, v, scale_k, scale_v, valid, part_acc, part_ml, length, chunk,
        k.stride(0), k.stride(1), v.stride(0), v.stride(1),
        scale_k.stride(0) if is_fp8 else 0, scale_k.stride(1) if is_fp8 else 0, valid.stride(0),
        d ** -0.5, HKV=hkv, G=groups, G_PAD=g_pad, D=d, BLOCK_L=ATTN_BLOCK_L, NUM_SPLITS=splits, IS_FP8=is_fp8,
        num_warps=4, num_stages=3)
    out = torch.empty((b, hq, d), dtype=q.dtype, device=q.device)
    combine_kernel[(b * hkv,)](part_acc, part_ml, out, b * hkv, HKV=hkv, G=groups, G_PAD=g_pad, D=d,
                               NUM_SPLITS=splits, num_warps=4)
    return out.view(b, hq, 1, d)


@functools.cache
def _decode_attention_kernels():
    import triton
    import triton.language as tl

    @triton.jit
    def split_kernel(q_ptr, k_ptr, v_ptr, ks_ptr, vs_ptr, valid_ptr, acc_ptr, ml_ptr, L, chunk,
                     stride_kb, stride_kh, stride_vb, stride_vh, stride_sb, stride_sh, stride_validb, sm_scale,
                     HKV: tl.constexpr, G: tl.constexpr, G_PAD: tl.constexpr, D: tl.constexpr,
                     BLOCK_L: tl.constexpr, NUM_SPLITS: tl.constexpr, IS_FP8: tl.constexpr):
        bh = tl.program_id(0)
        split = tl.program_id(1)
        b = bh // HKV
        h = bh % HKV
        g = tl.arange(0, G_PAD)
        d = tl.arange(0, D)
        q = tl.load(q_ptr + (b * HKV * G + h * G + g)[:, None] * D + d[None, :], mask=g[:, None] < G, other=0)
        m = tl.full((G_PAD,), float("-inf"), dtype=tl.float32)
        l_sum = tl.zeros((G_PAD,), dtype=tl.float32)
        acc = tl.zeros((G_PAD, D), dtype=tl.float32)
        start = split * chunk
        for l0 in range(0, chunk, BLOCK_L):
            offs = start + l0 + tl.arange(0, BLOCK_L)
            inb = offs < L
            valid = tl.load(valid_ptr + b * stride_validb + offs, mask=inb, other=0) != 0
            k = tl.load(k_ptr + b * stride_kb + h * stride_kh + offs[:, None] * D + d[None, :],
                        mask=inb[:, None], other=0)
            v = tl.load(v_ptr + b * stride_vb + h * stride_vh + offs[:, None] * D + d[None, :],
                        mask=inb[:, None], other=0)
            if IS_FP8:
                ks = tl.load(ks_ptr + b * stride_sb + h * stride_sh + offs, mask=inb, other=0)
                vs = tl.load(vs_ptr + b * stride_sb + h * stride_sh + offs, mask=inb, other=0)
                k = (k.to(tl.float8e4nv, bitcast=True).to(tl.float32) * ks[:, None]).to(q.dtype)
                v = (v.to(tl.float8e4nv, bitcast=True).to(tl.float32) * vs[:, None]).to(q.dtype)
            s = tl.dot(q, tl.trans(k.to(q.dtype))) * sm_scale
            s = tl.where(valid[None, :], s, float("-inf"))
            m_new = tl.maximum(m, tl.max(s, 1))
            m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
            p = tl.exp(s - m_safe[:, None])
            alpha = tl.exp(m - m_safe)
            l_sum = l_sum * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None] + tl.dot(p.to(q.dtype), v.to(q.dtype))
            m = m_new
        row = bh * NUM_SPLITS + split
        tl.store(acc_ptr + (row * G_PAD + g)[:, None] * D + d[None, :], acc)
        tl.store(ml_ptr + row * G_PAD + g, m)
        tl.store(ml_ptr + (tl.num_programs(0) * NUM_SPLITS + row) * G_PAD + g, l_sum)   # [2, BH, S, G_PAD]: l after m

    @triton.jit
    def combine_kernel(acc_ptr, ml_ptr, out_ptr, BH, HKV: tl.constexpr, G: tl.constexpr, G_PAD: tl.constexpr,
                       D: tl.constexpr, NUM_SPLITS: tl.constexpr):
        bh = tl.program_id(0)
        g = tl.arange(0, G_PAD)
        d = tl.arange(0, D)
        m_all = tl.full((G_PAD,), float("-inf"), dtype=tl.float32)
        for s in range(NUM_SPLITS):
            m_all = tl.maximum(m_all, tl.load(ml_ptr + (bh * NUM_SPLITS + s) * G_PAD + g))
        m_safe = tl.where(m_all == float("-inf"), 0.0, m_all)
        total = tl.zeros((G_PAD,), dtype=tl.float32)
        out = tl.zeros((G_PAD, D), dtype=tl.float32)
        for s in range(NUM_SPLITS):
            row = bh * NUM_SPLITS + s
            w = tl.exp(tl.load(ml_ptr + row * G_PAD + g) - m_safe)
            total += w * tl.load(ml_ptr + (BH * NUM_SPLITS + row) * G_PAD + g)
            out += w[:, None] * tl.load(acc_ptr + (row * G_PAD + g)[:, None] * D + d[None, :])
        out = out / tl.where(total == 0, 1.0, total)[:, None]
        b = bh // HKV
        h = bh % HKV
        tl.store(out_ptr + (b * HKV * G + h * G + g)[:, None] * D + d[None, :], out.to(out_ptr.dtype.element_ty),
                 mask=g[:, None] < G)

    return split_kernel, combine_kernel
