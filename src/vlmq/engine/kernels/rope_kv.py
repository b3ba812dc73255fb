"""M-RoPE and the KV-cache write in one kernel (``vlmq::rope_kv_write``), and its unfused reference.

Why: the compiled decode step ran the rotation of q and k, the cast or FP8 quantization of k and v, and
the cache writes as separate Inductor kernels (30-50 us a step each on the H200, qwen2-vl-2b); TensorRT-LLM
and SGLang do all of it in one kernel after the qkv projection. One program here owns one token (a batch
row and position): it rotates every query head (returned for attention) and every KV head, and stores K
and V at the token's cache slot -- BF16, or FP8 bits with the scale of the cache's policy (a per-head
table chosen by token type, or the token's amax / 448 for ``dynamic``).

The arithmetic is that of ``apply_rope`` + ``write_kv`` run eagerly: each product of the rotation and
their sum are rounded to the compute dtype, as eager bf16 ops round them (rope_kv_triton.rope_rows says
how the compiler is kept from fusing them), dynamic FP8 scales are ``vlmq.numerics.fp8_scale``'s and FP8
entries use IEEE division's quotient (``eager_triton.exact_quotient``, without a divide); on the GPU the results
are bit-identical (tests marked gpu). The tables (cos, sin) are the engine's, so decode and prefill rotate the
same way. ``launch_rope_kv`` runs the kernel on whatever device Triton runs on (Triton's CPU interpreter in
tests); the op runs it on CUDA and the reference elsewhere.
"""

from __future__ import annotations

import torch

from vlmq.engine.kv_cache import LayerKV, write_kv
from vlmq.engine.rope import apply_rope
from vlmq.engine.types import VISUAL


def rope_kv_reference(q, k, v, cos, sin, kv: LayerKV, write_pos, token_type) -> torch.Tensor:
    """``apply_rope`` + ``write_kv``: q/k/v [B, T, heads * D] (views of the fused projection are fine),
    tables [B, T, D] → rotated q [B, Hq, T, D]; k (rotated) and v go into ``kv`` at slots ``write_pos``."""
    b, t = q.shape[:2]
    d = kv.k.shape[-1]
    q, k, v = (x.reshape(b, t, -1, d).transpose(1, 2) for x in (q, k, v))
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    write_kv(kv, k, v, write_pos, token_type)
    return q


# The arguments of the ops that rotate q/k and write K/V into one layer's cache (``vlmq::rope_kv_write`` and
# ``vlmq::rope_kv_decode_attention``): the raw projections, the rotary tables and the layer's cache as
# ``LayerKV``'s tensors (``tables`` as a list, empty for BF16 caches and dynamic FP8 scales), which they mutate.
ROPE_KV_SCHEMA = (
    "Tensor q, Tensor k, Tensor v, Tensor cos, Tensor sin, Tensor(a5!) k_cache, Tensor(a6!) v_cache, "
    "Tensor(a7!)? k_scale, Tensor(a8!)? v_scale, Tensor[] tables"
)
CACHE_MUTATED = ("k_cache", "v_cache", "k_scale", "v_scale")


def cache_tensors(kv: LayerKV) -> tuple:
    """A ``LayerKV`` as the ops take it: k_cache, v_cache, k_scale, v_scale, tables."""
    return kv.k, kv.v, kv.k_scale, kv.v_scale, list(kv.tables or ())


def layer_kv(k_cache, v_cache, k_scale, v_scale, tables) -> LayerKV:
    """The ops' cache arguments as a ``LayerKV`` again (for the references)."""
    return LayerKV(k_cache, v_cache, k_scale, v_scale, tuple(tables) or None)


def rope_kv_write_reference(q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, write_pos, token_type):
    """``vlmq::rope_kv_write`` off CUDA: rotated q [B, T, Hq, D] (contiguous); writes the token's K/V (and FP8
    scales) into the cache."""
    kv = layer_kv(k_cache, v_cache, k_scale, v_scale, tables)
    return rope_kv_reference(q, k, v, cos, sin, kv, write_pos, token_type).transpose(1, 2).contiguous()


rope_kv_write = torch.library.custom_op(
    "vlmq::rope_kv_write",
    rope_kv_write_reference,
    mutates_args=CACHE_MUTATED,
    schema=f"({ROPE_KV_SCHEMA}, Tensor write_pos, Tensor token_type) -> Tensor",
)


@rope_kv_write.register_fake
def _(q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, write_pos, token_type):
    b, t = q.shape[:2]
    d = k_cache.shape[-1]
    return q.new_empty((b, t, q.shape[-1] // d, d))


def rope_write_kv(q, k, v, cos, sin, kv: LayerKV, write_pos, token_type) -> torch.Tensor:
    """What the decoder layer calls: ``rope_kv_write`` over a ``LayerKV``; rotated q as [B, Hq, T, D]."""
    return rope_kv_write(q, k, v, cos, sin, *cache_tensors(kv), write_pos, token_type).transpose(1, 2)


def kernel_args(k_cache, v_cache, k_scale, v_scale, tables) -> tuple[tuple, dict]:
    """The cache part of a launch (shared with the fused decode-attention kernel): pointers, strides and
    flags (``CUDA``: divide by 448 as PyTorch does on the cache's device). Absent scale buffers and tables
    are replaced by the cache itself (never read)."""
    if (
        k_cache.shape != v_cache.shape
        or k_cache.stride() != v_cache.stride()
        or k_cache.stride(-1) != 1
        or k_cache.stride(-2) != k_cache.shape[-1]
    ):
        raise ValueError("K and V caches must have one shape with contiguous [L, D] planes")
    is_fp8 = k_scale is not None
    if is_fp8 and k_scale.stride() != v_scale.stride():
        raise ValueError("K and V scale buffers must share strides")
    k_text, v_text, k_vis, v_vis = tables if tables else (k_cache,) * 4
    ks, vs = (k_scale, v_scale) if is_fp8 else (k_cache, v_cache)
    args = (
        k_cache,
        v_cache,
        ks,
        vs,
        k_cache.stride(0),
        k_cache.stride(1),
        ks.stride(0) if is_fp8 else 0,
        ks.stride(1) if is_fp8 else 0,
        k_text,
        v_text,
        k_vis,
        v_vis,
    )
    flags = {"IS_FP8": is_fp8, "DYNAMIC": is_fp8 and not tables, "VISUAL": VISUAL, "CUDA": k_cache.is_cuda}
    return args, flags


def launch_rope_kv(q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, write_pos, token_type):
    """The Triton kernel (the op's CUDA path; tests run it in Triton's CPU interpreter)."""
    b, t = q.shape[:2]
    hkv, d = k_cache.shape[1], k_cache.shape[-1]
    hq = q.shape[-1] // d
    if any(x.stride(-1) != 1 for x in (q, k, v, cos, sin)) or cos.dtype != q.dtype:
        raise ValueError("q/k/v and the rotary tables need a contiguous last dim and tables in q's dtype")
    out = torch.empty((b, t, hq, d), dtype=q.dtype, device=q.device)
    cache_args, flags = kernel_args(k_cache, v_cache, k_scale, v_scale, tables)
    from vlmq.engine.kernels.rope_kv_triton import rope_kv_kernel

    rope_kv_kernel[(b * t,)](
        q,
        k,
        v,
        *token_strides(q, k, v),
        cos,
        sin,
        *token_strides(cos),
        out,
        cache_args,
        write_pos,
        token_type,
        *token_strides(token_type),
        t,
        HQ=hq,
        HKV=hkv,
        HQ_PAD=triton_pow2(hq),
        HKV_PAD=triton_pow2(hkv),
        D=d,
        **flags,
        num_warps=4,
    )
    return out


rope_kv_write.register_kernel("cuda", launch_rope_kv)


def token_strides(*xs: torch.Tensor) -> tuple[int, ...]:
    """The batch and token strides of each [B, T, ...] tensor, in turn (how the kernel steps to a token's row)."""
    return tuple(stride for x in xs for stride in x.stride()[:2])


def triton_pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()
