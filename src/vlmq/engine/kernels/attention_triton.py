"""Triton side of ``vlmq.engine.kernels.attention`` (imported only where a kernel runs: a GPU, or Triton's CPU
interpreter in tests).

One program per (batch row, KV head, split of the cache) runs the online softmax of the head's G query
heads over its slots. With one split it writes the output; with several, each writes its partial
(acc, max, sum) and bumps the head's arrival counter; the program that arrives last combines the
partials and resets the counter, so no second launch is needed (TensorRT-LLM's multi-block mode and
CUTLASS's split-K semaphore work this way: a CTA barrier, then one release/acquire atomic at GPU scope).
``COMBINE_IN_KERNEL=False`` keeps the earlier two-launch scheme (``combine_kernel``) for benchmarks.

``FUSE_ROPE`` adds the prologue of ``vlmq::rope_kv_write`` for a decode step: every program rotates its
query heads from the raw projection, and the program whose split holds the step's slot rotates and
writes the head's new K/V there (then a CTA barrier, before its loop reads the slot back).
"""

import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from vlmq.engine.kernels.rope_kv_triton import rope_rows, write_token


@triton.jit
def combine_partials(
    part_ptr,
    ml_ptr,
    out_ptr,
    bh,
    BH,
    num_splits,
    HKV: tl.constexpr,
    G: tl.constexpr,
    G_PAD: tl.constexpr,
    G_ROWS: tl.constexpr,
    D: tl.constexpr,
    SB: tl.constexpr,
):
    """out rows of (batch row, KV head) ``bh`` from the splits' partials ([BH, S, G_PAD, D] acc and
    [2, BH, S, G_PAD] max / sum), SB splits at a time (their loads in flight together: one program reads
    every partial, so a split-by-split loop would pay one memory latency per split). Loads bypass L1
    (``.cg``): other programs wrote the partials."""
    g = tl.arange(0, G_ROWS)  # the G real rows, padded to a power of two
    d = tl.arange(0, D)
    sb = tl.arange(0, SB)
    gmask = g < G
    m_all = tl.full((G_ROWS,), float("-inf"), dtype=tl.float32)
    for s0 in range(0, num_splits, SB):
        rows = bh * num_splits + s0 + sb
        m = tl.load(
            ml_ptr + rows[:, None] * G_PAD + g[None, :],
            mask=(s0 + sb < num_splits)[:, None],
            other=float("-inf"),
            cache_modifier=".cg",
        )
        m_all = tl.maximum(m_all, tl.max(m, 0))
    m_safe = tl.where(m_all == float("-inf"), 0.0, m_all)
    total = tl.zeros((G_ROWS,), dtype=tl.float32)
    out = tl.zeros((G_ROWS, D), dtype=tl.float32)
    for s0 in range(0, num_splits, SB):
        rows = bh * num_splits + s0 + sb
        smask = (s0 + sb < num_splits)[:, None] & gmask[None, :]
        m = tl.load(ml_ptr + rows[:, None] * G_PAD + g[None, :], mask=smask, other=float("-inf"), cache_modifier=".cg")
        l_sum = tl.load(
            ml_ptr + (BH * num_splits + rows)[:, None] * G_PAD + g[None, :], mask=smask, other=0.0, cache_modifier=".cg"
        )
        w = tl.exp(m - m_safe[None, :])  # [SB, G_ROWS]; 0 for masked splits and rows
        total += tl.sum(w * l_sum, 0)
        acc = tl.load(
            part_ptr + ((rows[:, None] * G_PAD + g[None, :]) * D)[:, :, None] + d[None, None, :],
            mask=smask[:, :, None],
            other=0.0,
            cache_modifier=".cg",
        )
        out += tl.sum(w[:, :, None] * acc, 0)
    out = out / tl.where(total == 0, 1.0, total)[:, None]  # a row with no valid slot gives 0
    b = bh // HKV
    h = bh % HKV
    tl.store(
        out_ptr + (b * HKV * G + h * G + g)[:, None] * D + d[None, :],
        out.to(out_ptr.dtype.element_ty),
        mask=gmask[:, None],
    )


@triton.jit
def load_block(
    k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, offs, L, d, DT: tl.constexpr, IS_FP8: tl.constexpr
):
    """One block of cache slots ``offs``: (valid [BLOCK_L], K and V [BLOCK_L, D] in DT). Masked-off slots
    (padding, beyond the context) are not read: a static cache much longer than the context costs no bandwidth."""
    D: tl.constexpr = d.shape[0]
    valid = tl.load(valid_row + offs, mask=offs < L, other=0) != 0
    k = tl.load(k_ptr + cache_row + offs[:, None] * D + d[None, :], mask=valid[:, None], other=0)
    v = tl.load(v_ptr + cache_row + offs[:, None] * D + d[None, :], mask=valid[:, None], other=0)
    if IS_FP8:
        ks = tl.load(ks_ptr + scale_row + offs, mask=valid, other=0)
        vs = tl.load(vs_ptr + scale_row + offs, mask=valid, other=0)
        k = k.to(tl.float8e4nv, bitcast=True).to(tl.float32) * ks[:, None]
        v = v.to(tl.float8e4nv, bitcast=True).to(tl.float32) * vs[:, None]
    return valid, k.to(DT), v.to(DT)


@triton.jit
def attend(q, k, v, valid, m, l_sum, acc, sm_scale):
    """The online softmax over one block: (max, sum, accumulator) after it."""
    s = tl.dot(q, tl.trans(k)) * sm_scale
    s = tl.where(valid[None, :], s, float("-inf"))
    m_new = tl.maximum(m, tl.max(s, 1))
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    p = tl.exp(s - m_safe[:, None])
    alpha = tl.exp(m - m_safe)
    return m_new, l_sum * alpha + tl.sum(p, 1), acc * alpha[:, None] + tl.dot(p.to(q.dtype), v)


@triton.jit
def decode_attention_kernel(
    q_ptr,
    stride_qb,
    stride_qh,
    cache,
    valid_ptr,
    stride_validb,
    out_ptr,
    part_ptr,
    ml_ptr,
    count_ptr,
    L,
    chunk,
    sm_scale,
    new_k_ptr,
    new_v_ptr,
    stride_nkb,
    stride_nvb,
    cos_ptr,
    sin_ptr,
    stride_cosb,
    slot_ptr,
    type_ptr,
    stride_typeb,
    HKV: tl.constexpr,
    G: tl.constexpr,
    G_PAD: tl.constexpr,
    G_ROWS: tl.constexpr,
    D: tl.constexpr,
    BLOCK_L: tl.constexpr,
    COMBINE_SPLITS: tl.constexpr,
    IS_FP8: tl.constexpr,
    DYNAMIC: tl.constexpr,
    VISUAL: tl.constexpr,
    CUDA: tl.constexpr,
    FUSE_ROPE: tl.constexpr,
    COMBINE_IN_KERNEL: tl.constexpr,
    PDL: tl.constexpr,
):
    k_ptr, v_ptr, ks_ptr, vs_ptr, stride_cb, stride_ch, stride_sb, stride_sh, _, _, _, _ = cache  # kernel_args' tuple
    bh = tl.program_id(0)
    split = tl.program_id(1)
    num_splits = tl.num_programs(1)
    b = bh // HKV
    h = bh % HKV
    g = tl.arange(0, G_PAD)
    d = tl.arange(0, D)
    gmask = g < G
    start = split * chunk
    DT: tl.constexpr = out_ptr.dtype.element_ty
    cache_row = b.to(tl.int64) * stride_cb + h * stride_ch
    scale_row = b.to(tl.int64) * stride_sb + h * stride_sh
    valid_row = valid_ptr + b * stride_validb
    first = start + tl.arange(0, BLOCK_L)
    if FUSE_ROPE:
        # the first block's loads start before the wait (PDL): older slots were written by earlier steps, and
        # this kernel writes the step's slot itself (reloaded below where the block holds it)
        valid0, k0, v0 = load_block(
            k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, first, L, d, DT, IS_FP8
        )
    if PDL:
        gdc_wait()
    if FUSE_ROPE:
        cos = tl.load(cos_ptr + b * stride_cosb + d).to(tl.float32)
        sin = tl.load(sin_ptr + b * stride_cosb + d).to(tl.float32)
        q = rope_rows(q_ptr + b * stride_qb, h * G + g, gmask, d, cos, sin, D)
        slot = tl.load(slot_ptr)
        if (slot >= start) & (slot < start + chunk):
            head = h + tl.arange(0, 1)
            token_type = tl.load(type_ptr + b * stride_typeb)
            write_token(
                new_k_ptr + b * stride_nkb, new_v_ptr + b * stride_nvb, head, head < HKV, d, cos, sin, b, slot,
                token_type, cache, D, IS_FP8, DYNAMIC, VISUAL, CUDA,
            )  # fmt: skip
        tl.debug_barrier()  # the slot's entries are in memory before the loop reads them
        if (slot >= start) & (slot < start + BLOCK_L):  # the prefetched block holds the step's slot: read it again
            valid0, k0, v0 = load_block(
                k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, first, L, d, DT, IS_FP8
            )
    else:
        q = tl.load(q_ptr + b * stride_qb + (h * G + g)[:, None] * stride_qh + d[None, :], mask=gmask[:, None], other=0)
        valid0, k0, v0 = load_block(
            k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, first, L, d, DT, IS_FP8
        )
    m = tl.full((G_PAD,), float("-inf"), dtype=tl.float32)
    l_sum = tl.zeros((G_PAD,), dtype=tl.float32)
    acc = tl.zeros((G_PAD, D), dtype=tl.float32)
    m, l_sum, acc = attend(q, k0, v0, valid0, m, l_sum, acc, sm_scale)
    for l0 in range(BLOCK_L, chunk, BLOCK_L):
        valid, k, v = load_block(
            k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, first + l0, L, d, DT, IS_FP8
        )
        m, l_sum, acc = attend(q, k, v, valid, m, l_sum, acc, sm_scale)
    if PDL:
        gdc_launch_dependents()  # after the wait: the next kernel may start loading its weights
    if num_splits == 1:
        out = acc / tl.where(l_sum == 0, 1.0, l_sum)[:, None]
        tl.store(
            out_ptr + (b * HKV * G + h * G + g)[:, None] * D + d[None, :],
            out.to(out_ptr.dtype.element_ty),
            mask=gmask[:, None],
        )
    else:
        BH = tl.num_programs(0)
        row = bh * num_splits + split
        tl.store(part_ptr + (row * G_PAD + g)[:, None] * D + d[None, :], acc, mask=gmask[:, None])
        tl.store(ml_ptr + row * G_PAD + g, m)
        tl.store(ml_ptr + (BH * num_splits + row) * G_PAD + g, l_sum)  # [2, BH, S, G_PAD]: sums after maxima
        if COMBINE_IN_KERNEL:
            tl.debug_barrier()  # every thread's partial stores precede the release below
            arrived = tl.atomic_add(count_ptr + bh, 1, sem="acq_rel", scope="gpu")
            if arrived == num_splits - 1:  # the last split of this head: all partials are visible
                combine_partials(
                    part_ptr, ml_ptr, out_ptr, bh, BH, num_splits, HKV, G, G_PAD, G_ROWS, D, COMBINE_SPLITS
                )
                tl.atomic_xchg(count_ptr + bh, 0, sem="relaxed", scope="gpu")  # ready for the next launch


@triton.jit
def combine_kernel(
    part_ptr, ml_ptr, out_ptr, num_splits, HKV: tl.constexpr, G: tl.constexpr, G_PAD: tl.constexpr,
    G_ROWS: tl.constexpr, D: tl.constexpr, COMBINE_SPLITS: tl.constexpr,
):  # fmt: skip
    """The second launch of the two-launch scheme (``COMBINE_IN_KERNEL=False``)."""
    combine_partials(
        part_ptr,
        ml_ptr,
        out_ptr,
        tl.program_id(0),
        tl.num_programs(0),
        num_splits,
        HKV,
        G,
        G_PAD,
        G_ROWS,
        D,
        COMBINE_SPLITS,
    )
