"""Triton side of ``vlmq.engine.kernels.rope_kv`` (imported only where a kernel runs: a GPU, or Triton's CPU
interpreter in tests). Module-level device functions, because the interpreter resolves a kernel's callees
through the module's globals; the fused decode-attention kernel calls ``load_rows``, ``rotate_rows`` and
``store_token`` too."""

import triton
import triton.language as tl

from vlmq.engine.kernels.eager_triton import exact_quotient, round_to_bf16, scalar_quotient
from vlmq.numerics import FP8_MAX, MIN_SCALE

FP8_LIMIT = tl.constexpr(FP8_MAX)
SCALE_FLOOR = tl.constexpr(MIN_SCALE)


@triton.jit
def load_rows(src, heads, hmask, d, D: tl.constexpr):
    """Rows ``heads`` of one token's [H, D] projection at ``src`` and their rotate-half partners (both loads in
    flight together; the fused decode kernel issues them next to its other loads, before any arithmetic)."""
    half: tl.constexpr = D // 2
    x = tl.load(src + heads[:, None] * D + d[None, :], mask=hmask[:, None], other=0)
    partner = tl.load(src + heads[:, None] * D + ((d + half) % D)[None, :], mask=hmask[:, None], other=0)
    return x, partner


@triton.jit
def rotate_rows(x, partner, d, cos, sin, D: tl.constexpr, HW_ROUNDING: tl.constexpr):
    """x*cos + rotate_half(x)*sin (``partner``: x's rotate-half partners), both products and their sum rounded to
    x's dtype as eager ops round them (cos/sin: fp32 holding dtype values).

    For bf16 the products are rounded by ``round_to_bf16`` (``HW_ROUNDING``: by the GPU's conversion instruction,
    never under Triton's interpreter), not by a cast: after a cast LLVM narrows each product to a bf16 multiply and
    contracts it with the sum into one bf16 FMA (``HFMA2.BF16`` in the sm_90 SASS), which rounds once where eager rounds
    three times -- the one-ulp differences the H200 showed and Triton's interpreter cannot
    (tests/engine/test_kernels_sass.py checks the SASS). Other dtypes cast (fp32 on a GPU: exact up to that
    contraction)."""
    half: tl.constexpr = D // 2
    # sin's sign flipped by a product, not by unary minus: Triton 3.6 compiles a float's -x as 0 - x, which makes
    # -(+0) = +0, so at angle 0 (sin +0) a -0 partner gave -0 where eager's rotate_half gives +0
    signed_sin = sin * tl.where(d < half, -1.0, 1.0)
    a = x.to(tl.float32) * cos[None, :]
    r = partner.to(tl.float32) * signed_sin[None, :]
    if x.dtype == tl.bfloat16:
        a = round_to_bf16(a, HW_ROUNDING)
        r = round_to_bf16(r, HW_ROUNDING)
    else:
        a = a.to(x.dtype).to(tl.float32)
        r = r.to(x.dtype).to(tl.float32)
    return (a + r).to(x.dtype)


@triton.jit
def rope_rows(src, heads, hmask, d, cos, sin, D: tl.constexpr):
    """Rows ``heads`` of one token's [H, D] projection at ``src``, rotated (``rotate_rows``, rounding in integers as
    the fused attention does by default)."""
    x, partner = load_rows(src, heads, hmask, d, D)
    return rotate_rows(x, partner, d, cos, sin, D, False)


@triton.jit
def fp8_scale(
    x, heads, hmask, token_type, text_ptr, visual_ptr, DYNAMIC: tl.constexpr, VISUAL: tl.constexpr, CUDA: tl.constexpr
):
    """[H] scales of the rows being written: amax / 448 as ``vlmq.numerics.fp8_scale`` computes it on this
    device (dynamic), or the table of the token's type."""
    if DYNAMIC:
        amax = tl.max(tl.abs(x.to(tl.float32)), axis=1)
        scale = tl.maximum(scalar_quotient(amax, FP8_LIMIT, CUDA), SCALE_FLOOR)
    else:
        text = tl.load(text_ptr + heads, mask=hmask, other=1.0)
        visual = tl.load(visual_ptr + heads, mask=hmask, other=1.0)
        scale = tl.where(token_type == VISUAL, visual, text)
    return scale


@triton.jit
def store_rows(x, scale, dst, scale_dst, hmask, d, IS_FP8: tl.constexpr):
    """Store [H, D] rows at ``dst`` (+ d): cast to the cache dtype, or FP8 bits of x / scale (correctly rounded
    as IEEE division, ``exact_quotient``; saturated at ±448, round-to-nearest-even) with their scales at
    ``scale_dst``. Returns the rows as the
    cache now holds them, in float32 (FP8: the stored code times its scale, as a reader dequantizes them)."""
    if IS_FP8:
        inv = tl.div_rn(tl.full(scale.shape, 1.0, tl.float32), scale)
        y = exact_quotient(x.to(tl.float32), scale[:, None], inv[:, None])
        code = tl.minimum(tl.maximum(y, -FP8_LIMIT), FP8_LIMIT).to(tl.float8e4nv)
        tl.store(dst + d[None, :], code.to(tl.uint8, bitcast=True), mask=hmask[:, None])
        tl.store(scale_dst, scale, mask=hmask)
        held = code.to(tl.float32) * scale[:, None]
    else:
        stored = x.to(dst.dtype.element_ty)
        tl.store(dst + d[None, :], stored, mask=hmask[:, None])
        held = stored.to(tl.float32)
    return held


@triton.jit
def store_token(
    k, v, heads, hmask, b, pos, token_type, cache, d, IS_FP8: tl.constexpr, DYNAMIC: tl.constexpr,
    VISUAL: tl.constexpr, CUDA: tl.constexpr,
):  # fmt: skip
    """Store one token's rotated K rows ``k`` and V rows ``v`` (heads ``heads``) at cache slot ``pos`` of row b,
    with the scales of the cache's policy; returns (K, V) as the cache now holds them (``store_rows``).
    ``cache`` is the tuple of ``rope_kv.kernel_args``: K and V caches, their scale buffers, the strides of both
    and the static scale tables (text K, text V, visual K, visual V)."""
    kc, vc, ks, vs, stride_cb, stride_ch, stride_sb, stride_sh, k_text, v_text, k_vis, v_vis = cache
    D: tl.constexpr = d.shape[0]
    dst = b.to(tl.int64) * stride_cb + heads[:, None] * stride_ch + pos * D
    scale_dst = b.to(tl.int64) * stride_sb + heads * stride_sh + pos
    k_s = fp8_scale(k, heads, hmask, token_type, k_text, k_vis, DYNAMIC, VISUAL, CUDA)
    v_s = fp8_scale(v, heads, hmask, token_type, v_text, v_vis, DYNAMIC, VISUAL, CUDA)
    k_held = store_rows(k, k_s, kc + dst, ks + scale_dst, hmask, d, IS_FP8)
    v_held = store_rows(v, v_s, vc + dst, vs + scale_dst, hmask, d, IS_FP8)
    return k_held, v_held


@triton.jit
def write_token(
    k_src,
    v_src,
    heads,
    hmask,
    d,
    cos,
    sin,
    b,
    pos,
    token_type,
    cache,
    D: tl.constexpr,
    IS_FP8: tl.constexpr,
    DYNAMIC: tl.constexpr,
    VISUAL: tl.constexpr,
    CUDA: tl.constexpr,
):
    """Rotate K rows ``heads`` of one token; store them and the token's V rows at cache slot ``pos`` of row b
    (``store_token``)."""
    k = rope_rows(k_src, heads, hmask, d, cos, sin, D)
    v = tl.load(v_src + heads[:, None] * D + d[None, :], mask=hmask[:, None], other=0)
    store_token(k, v, heads, hmask, b, pos, token_type, cache, d, IS_FP8, DYNAMIC, VISUAL, CUDA)


@triton.jit
def rope_kv_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    stride_qb,
    stride_qt,
    stride_kb,
    stride_kt,
    stride_vb,
    stride_vt,
    cos_ptr,
    sin_ptr,
    stride_cosb,
    stride_cost,
    out_ptr,
    cache,
    pos_ptr,
    type_ptr,
    stride_typeb,
    stride_typet,
    T,
    HQ: tl.constexpr,
    HKV: tl.constexpr,
    HQ_PAD: tl.constexpr,
    HKV_PAD: tl.constexpr,
    D: tl.constexpr,
    IS_FP8: tl.constexpr,
    DYNAMIC: tl.constexpr,
    VISUAL: tl.constexpr,
    CUDA: tl.constexpr,
):
    row = tl.program_id(0)  # one token: batch row b, position t
    b = row // T
    t = row % T
    d = tl.arange(0, D)
    cos = tl.load(cos_ptr + b * stride_cosb + t * stride_cost + d).to(tl.float32)
    sin = tl.load(sin_ptr + b * stride_cosb + t * stride_cost + d).to(tl.float32)
    hq = tl.arange(0, HQ_PAD)
    q = rope_rows(q_ptr + b * stride_qb + t * stride_qt, hq, hq < HQ, d, cos, sin, D)
    tl.store(out_ptr + (row.to(tl.int64) * HQ + hq[:, None]) * D + d[None, :], q, mask=(hq < HQ)[:, None])
    hk = tl.arange(0, HKV_PAD)
    pos = tl.load(pos_ptr + t)
    token_type = tl.load(type_ptr + b * stride_typeb + t * stride_typet)
    write_token(
        k_ptr + b * stride_kb + t * stride_kt, v_ptr + b * stride_vb + t * stride_vt, hk, hk < HKV, d, cos, sin, b,
        pos, token_type, cache, D, IS_FP8, DYNAMIC, VISUAL, CUDA,
    )  # fmt: skip
