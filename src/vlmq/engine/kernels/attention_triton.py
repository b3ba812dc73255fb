"""Triton side of ``vlmq.engine.kernels.attention`` (imported only where a kernel runs: a GPU, or Triton's CPU
interpreter in tests).

One program per (batch row, KV head, split of the cache) runs the online softmax of the head's G query
heads over its slots. With one split it writes the output; with several, each writes its partial
(acc, max, sum) and bumps the head's arrival counter; the program that arrives last combines the
partials and resets the counter, so no second launch is needed (TensorRT-LLM's multi-block mode and
CUTLASS's split-K semaphore work this way: a CTA barrier, then one release/acquire atomic at GPU scope).
``COMBINE_IN_KERNEL=False`` keeps the earlier two-launch scheme (``combine_kernel``) for benchmarks.

``FUSE_ROPE`` adds the prologue of ``vlmq::rope_kv_write`` for a decode step. A decode step is a chain of
dependent memory round trips (~10 us a layer for ~300 KB on the H200), so the fused kernel is laid out to keep
that chain short. Every valid key of the step precedes the slot it writes (the op's contract), so:
- the step's slot bounds the work: the splits and slots per split follow ``slot + 1`` (``context_splits``),
  not the static cache length, and programs past the context exit at once;
- the cache is read below the slot only -- entries earlier steps wrote -- so a program's first block loads
  before the PDL wait, and K/V load together with the key-valid flags (masked by the slot, the flags mask the
  scores) rather than after them;
- after the wait, one round trip loads q, the new K/V, cos/sin and the token type together; the split that holds
  the slot rotates and writes the step's K/V and attends to them from registers (as the cache holds them), so
  nothing is read back and no barrier orders the write before the reads;
- the last program combines the partials in one pass (maxima, sums and accumulators load together).
"""

import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from vlmq.engine.kernels.gemv_triton import PDL_EARLY, PDL_LATE
from vlmq.engine.kernels.partials_triton import store_partial
from vlmq.engine.kernels.rope_kv_triton import load_rows, rotate_rows, store_token


@triton.jit
def context_splits(length, grid_splits, max_splits, BLOCK_L: tl.constexpr, COMBINE_SPLITS: tl.constexpr):
    """(splits, slots per split) over the ``length`` slots of the real context: the rule of
    ``attention.attention_splits`` (whole blocks per split, at most ~2 sqrt(blocks) splits but never fewer than
    one combine step; ``max_splits`` instead where the launch fixed it, 0 where not), bounded by the launched
    splits (which hold the target programs' bound): ``attention_splits(heads, length, grid_splits * heads)``."""
    blocks = tl.cdiv(length, BLOCK_L)
    sqrt_cap = tl.maximum(tl.floor(2 * tl.sqrt_rn(blocks.to(tl.float32)) + 0.5).to(tl.int32), COMBINE_SPLITS)
    cap = tl.where(max_splits > 0, max_splits, sqrt_cap)
    splits = tl.maximum(tl.minimum(tl.minimum(blocks, grid_splits), cap), 1)
    chunk = tl.cdiv(blocks, splits) * BLOCK_L
    return tl.cdiv(length, chunk), chunk


@triton.jit
def combine_partials(
    part_ptr,
    ml_ptr,
    out_ptr,
    bh,
    BH,
    grid_splits,
    num_splits,
    HKV: tl.constexpr,
    G: tl.constexpr,
    G_PAD: tl.constexpr,
    G_ROWS: tl.constexpr,
    D: tl.constexpr,
    SB: tl.constexpr,
    SPLIT_TILES: tl.constexpr = False,
):
    """out rows of (batch row, KV head) ``bh`` from the first ``num_splits`` of its ``grid_splits`` partials
    ([BH, grid_splits, G_PAD, D] acc and [2, BH, grid_splits, G_PAD] max / sum), SB splits a step with an online
    rescale: a step's maxima, sums and accumulators load together, so up to SB splits cost one memory round trip
    (one program reads every partial). Loads bypass L1 (``.cg``): other programs wrote the partials. A step loads
    its SB partials as one [SB, G_ROWS, D] tile, or with ``SPLIT_TILES`` each as its own [G_ROWS, D] tile
    (``split_tiles_step``)."""
    g = tl.arange(0, G_ROWS)  # the G real rows, padded to a power of two
    d = tl.arange(0, D)
    gmask = g < G
    m_run = tl.full((G_ROWS,), float("-inf"), dtype=tl.float32)
    total = tl.zeros((G_ROWS,), dtype=tl.float32)
    out = tl.zeros((G_ROWS, D), dtype=tl.float32)
    for s0 in range(0, num_splits, SB):
        first = bh * grid_splits + s0
        if SPLIT_TILES:
            m_run, total, out = split_tiles_step(
                part_ptr, ml_ptr, first, num_splits - s0, BH * grid_splits, g, d, gmask, m_run, total, out, G_PAD, SB
            )
        else:
            m_run, total, out = one_tile_step(
                part_ptr, ml_ptr, first, num_splits - s0, BH * grid_splits, g, d, gmask, m_run, total, out, G_PAD, SB
            )
    out = out / tl.where(total == 0, 1.0, total)[:, None]  # a row with no valid slot gives 0
    b = bh // HKV
    h = bh % HKV
    tl.store(
        out_ptr + (b * HKV * G + h * G + g)[:, None] * D + d[None, :],
        out.to(out_ptr.dtype.element_ty),
        mask=gmask[:, None],
    )
    return tl.sum(total)  # a value computed last, for a trace's timestamp (``timer_after``)


@triton.jit
def one_tile_step(part_ptr, ml_ptr, first, left, rows_all, g, d, gmask, m_run, total, out, G_PAD: tl.constexpr,
                  SB: tl.constexpr):  # fmt: skip
    """One step of ``combine_partials``: the partials of rows ``first`` .. ``first + SB`` (the first ``left`` real;
    ``rows_all`` rows of maxima precede the sums) as one [SB, G_ROWS, D] tile, summed over the splits by a
    reduction; (max, sum, accumulator) after it."""
    D: tl.constexpr = d.shape[0]
    sb = tl.arange(0, SB)
    rows = first + sb
    smask = (sb < left)[:, None] & gmask[None, :]
    m = tl.load(ml_ptr + rows[:, None] * G_PAD + g[None, :], mask=smask, other=float("-inf"), cache_modifier=".cg")
    l_sum = tl.load(
        ml_ptr + (rows_all + rows)[:, None] * G_PAD + g[None, :], mask=smask, other=0.0, cache_modifier=".cg"
    )
    acc = tl.load(
        part_ptr + ((rows[:, None] * G_PAD + g[None, :]) * D)[:, :, None] + d[None, None, :],
        mask=smask[:, :, None],
        other=0.0,
        cache_modifier=".cg",
    )
    m_new = tl.maximum(m_run, tl.max(m, 0))
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    alpha = tl.exp(m_run - m_safe)  # rescales the earlier steps; 0 before the first
    w = tl.exp(m - m_safe[None, :])  # [SB, G_ROWS]; 0 for masked splits and rows
    total = total * alpha + tl.sum(w * l_sum, 0)
    out = out * alpha[:, None] + tl.sum(w[:, :, None] * acc, 0)
    return m_new, total, out


@triton.jit
def split_tiles_step(part_ptr, ml_ptr, first, left, rows_all, g, d, gmask, m_run, total, out, G_PAD: tl.constexpr,
                     SB: tl.constexpr):  # fmt: skip
    """``one_tile_step``'s result, each split's partial as its own [G_ROWS, D] tile (the default, ``combine=1``: the 2b
    BF16 step 1.275 -> 1.261 ms/token on the H200, docs/benchmarks.md): the maxima and sums load in the tile's row
    layout, so every value a split's weight multiplies sits in the thread that holds it and almost nothing moves through
    shared memory (sm_90, Triton 3.6, 2b heads: 3 barriers after the arrival against 18, 4 shared loads and stores
    against 159; ``test_kernels_sass.py``). The splits are summed in order, as ``partials_triton.attention_output``
    does."""
    D: tl.constexpr = d.shape[0]
    parts = ()
    for j in tl.static_range(SB):  # every load of the step in flight before any arithmetic
        live = gmask & (j < left)
        row = first + j
        m = tl.load(ml_ptr + row * G_PAD + g, mask=live, other=float("-inf"), cache_modifier=".cg")
        l_sum = tl.load(ml_ptr + (rows_all + row) * G_PAD + g, mask=live, other=0.0, cache_modifier=".cg")
        acc = tl.load(
            part_ptr + (row * G_PAD + g)[:, None] * D + d[None, :], mask=live[:, None], other=0.0, cache_modifier=".cg"
        )
        parts = parts + ((m, l_sum, acc),)
    m_new = m_run
    for j in tl.static_range(SB):
        m_new = tl.maximum(m_new, parts[j][0])
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    alpha = tl.exp(m_run - m_safe)  # rescales the earlier steps; 0 before the first
    total = total * alpha
    out = out * alpha[:, None]
    for j in tl.static_range(SB):
        w = tl.exp(parts[j][0] - m_safe)  # 0 for masked splits and rows
        total += w * parts[j][1]
        out += w[:, None] * parts[j][2]
    return m_new, total, out


@triton.jit
def timer_after(x):
    """(global ns timer, SM cycle counter) read once ``x`` (an fp32 scalar) is computed: both reads are predicated on
    x == x, so they cannot issue before x is ready (traces only; a NaN x reads 0)."""
    return tl.inline_asm_elementwise(
        "{ .reg .pred p; setp.eq.f32 p, $2, $2; mov.u64 $0, 0; mov.u64 $1, 0; "
        "@p mov.u64 $0, %globaltimer; @p mov.u64 $1, %clock64; }",
        "=l,=l,f",
        [x],
        dtype=(tl.int64, tl.int64),
        is_pure=False,
        pack=1,
    )


@triton.jit
def store_trace(
    trace_ptr, trace_count_ptr, t0, c0, t1, c1, t2, c2, t3, c3, t4, c4, bh, split, num_splits, combined, t5, c5, t6,
    c6, TRACE_RECORDS: tl.constexpr, TRACE_WIDTH: tl.constexpr,
):  # fmt: skip
    """One program's trace record (``attention.TRACE_FIELDS``, ``attention.TRACE_WIDTH`` values) in the next slot of
    the ring of ``TRACE_RECORDS``: the (timer, clock) pairs at start, after the PDL wait, after the attention, after
    the arrival and at the end, then the program's place, then the pairs once q was loaded (and rotated) after the
    wait and once the cache's blocks were attended (before the step's own key)."""
    slot = tl.atomic_add(trace_count_ptr, 1, sem="relaxed") % TRACE_RECORDS
    f = tl.arange(0, 8)  # the record in rows of 8 values: times and clocks, the program's place, the later stamps
    times = tl.where(f == 0, t0, tl.where(f == 1, t1, tl.where(f == 2, t2, tl.where(f == 3, t3, t4))))
    times = tl.where(f < 5, times, tl.where(f == 5, c0, tl.where(f == 6, c1, c2)))
    rest = tl.where(f == 0, c3, tl.where(f == 1, c4, tl.where(f == 2, bh, tl.where(f == 3, split, num_splits))))
    rest = tl.where(f < 5, rest, tl.where(f == 5, combined, tl.where(f == 6, t5, c5)))
    last = tl.where(f == 0, t6, c6)
    row = trace_ptr + slot.to(tl.int64) * TRACE_WIDTH
    tl.store(row + f, times.to(tl.int64))
    tl.store(row + 8 + f, rest.to(tl.int64))
    tl.store(row + 16 + f, last.to(tl.int64), mask=f < 2)


@triton.jit
def load_block(
    k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, offs, bound, d, DT: tl.constexpr,
    IS_FP8: tl.constexpr, BOUNDED: tl.constexpr,
):  # fmt: skip
    """One block of cache slots ``offs`` below ``bound``: (valid [BLOCK_L], K and V [BLOCK_L, D] in DT).

    ``BOUNDED`` (the fused op, whose slot bounds the context): K/V load together with the valid flags, masked by
    the bound alone -- one round trip; the flags mask only the scores (a padding slot's entries are finite: the
    cache is zero-initialised and only vlmq kernels write it). Otherwise (the unfused op, bound = the cache
    length) K/V of invalid slots are not read: their loads wait for the flags, but a static cache much longer
    than the context costs no bandwidth."""
    D: tl.constexpr = d.shape[0]
    in_range = offs < bound
    valid = tl.load(valid_row + offs, mask=in_range, other=0) != 0
    kv_mask = in_range if BOUNDED else valid
    k = tl.load(k_ptr + cache_row + offs[:, None] * D + d[None, :], mask=kv_mask[:, None], other=0)
    v = tl.load(v_ptr + cache_row + offs[:, None] * D + d[None, :], mask=kv_mask[:, None], other=0)
    if IS_FP8:
        ks = tl.load(ks_ptr + scale_row + offs, mask=kv_mask, other=0)
        vs = tl.load(vs_ptr + scale_row + offs, mask=kv_mask, other=0)
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
def attend_token(q, k, v, valid, m, l_sum, acc, sm_scale):
    """The online softmax over one more key held in registers (k, v [1, D] in q's dtype; ``valid`` a scalar):
    ``attend``'s arithmetic for a block of one slot (fp32 products of the dtype's values; p rounded to q's
    dtype before it weighs v, as the block's tensor-core product takes it)."""
    s = tl.sum(q.to(tl.float32) * k.to(tl.float32), 1) * sm_scale
    s = tl.where(valid, s, float("-inf"))
    m_new = tl.maximum(m, s)
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    p = tl.exp(s - m_safe)
    alpha = tl.exp(m - m_safe)
    weighted = p.to(q.dtype).to(tl.float32)[:, None] * v.to(tl.float32)
    return m_new, l_sum * alpha + p, acc * alpha[:, None] + weighted


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
    max_splits,
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
    PREFETCH: tl.constexpr = 1,
    COMBINE_FORM: tl.constexpr = 1,  # launch_decode_attention's combine_form (its default too)
    HW_ROUNDING: tl.constexpr = False,  # its rounding == 1 (a candidate): on a GPU, RoPE rounds in the hardware
    PARTIALS_OUT: tl.constexpr = False,
    trace_ptr=None,
    trace_count_ptr=None,
    TRACE: tl.constexpr = False,
    TRACE_RECORDS: tl.constexpr = 1,
    TRACE_WIDTH: tl.constexpr = 1,
):
    """One program = (batch row, KV head) x one split of the cache (the module docstring). ``PARTIALS_OUT``: every
    split writes its partial, nobody combines, and split 0 writes the head's split count to ``count_ptr``: the
    consumer combines (``partials_triton``). ``TRACE``: each program that runs also leaves a timestamped record
    (``store_trace``; ``attention.read_attention_trace``), to see where a decode step's attention spends its time."""
    if TRACE:
        t0, c0 = timer_after(sm_scale)
    if PDL == PDL_EARLY:
        gdc_launch_dependents()
    k_ptr, v_ptr, ks_ptr, vs_ptr, stride_cb, stride_ch, stride_sb, stride_sh, _, _, _, _ = cache  # kernel_args' tuple
    bh = tl.program_id(0)
    split = tl.program_id(1)
    grid_splits = tl.num_programs(1)
    b = bh // HKV
    h = bh % HKV
    g = tl.arange(0, G_PAD)
    d = tl.arange(0, D)
    gmask = g < G
    DT: tl.constexpr = out_ptr.dtype.element_ty
    cache_row = b.to(tl.int64) * stride_cb + h * stride_ch
    scale_row = b.to(tl.int64) * stride_sb + h * stride_sh
    valid_row = valid_ptr + b * stride_validb
    if FUSE_ROPE:
        # the slot (a graph input, not written by the previous kernel) bounds the context: keys lie below it
        slot = tl.load(slot_ptr).to(tl.int32)
        num_splits, chunk = context_splits(slot + 1, grid_splits, max_splits, BLOCK_L, COMBINE_SPLITS)
        bound = slot
    else:
        num_splits = grid_splits
        bound = L
    if split >= num_splits:
        return  # past the context; a program that exits counts as having launched the dependents (PDL)
    start = split * chunk
    first = start + tl.arange(0, BLOCK_L)
    if FUSE_ROPE:
        # before the wait (PDL): the first block (earlier steps' entries: never stale) and the slot's valid flag
        valid0, k0, v0 = load_block(
            k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, first, bound, d, DT, IS_FP8, True
        )
        ahead = ()  # PREFETCH > 1: the split's next blocks too, each bounded by the split's end
        for j in tl.static_range(1, PREFETCH):
            ahead = ahead + (
                load_block(
                    k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, first + j * BLOCK_L,
                    tl.minimum(bound, start + chunk), d, DT, IS_FP8, True,
                ),
            )  # fmt: skip
        holds_slot = (slot >= start) & (slot < start + chunk)  # the last split: it writes the step's K/V
        token_valid = (tl.load(valid_row + slot) != 0) & holds_slot
        # the step's inputs (the op's contract: not written by the kernel just before, the QKV projection)
        cos = tl.load(cos_ptr + b * stride_cosb + d).to(tl.float32)
        sin = tl.load(sin_ptr + b * stride_cosb + d).to(tl.float32)
        token_type = tl.load(type_ptr + b * stride_typeb)
    if PDL:
        gdc_wait()
    if TRACE:
        t1, c1 = timer_after(sm_scale)
    if FUSE_ROPE:
        # what the previous kernel wrote: q and the new k/v, their loads in flight together before any arithmetic
        # (only the slot's split loads the new k/v)
        head = h + tl.arange(0, 1)
        writes = (head < HKV) & holds_slot
        k_raw, k_partner = load_rows(new_k_ptr + b * stride_nkb, head, writes, d, D)
        v_new = tl.load(new_v_ptr + b * stride_nvb + head[:, None] * D + d[None, :], mask=writes[:, None], other=0)
        q_raw, q_partner = load_rows(q_ptr + b * stride_qb, h * G + g, gmask, d, D)
        q = rotate_rows(q_raw, q_partner, d, cos, sin, D, CUDA and HW_ROUNDING)
        k_rot = rotate_rows(k_raw, k_partner, d, cos, sin, D, CUDA and HW_ROUNDING)
        k_held, v_held = store_token(
            k_rot, v_new, head, writes, b, slot, token_type, cache, d, IS_FP8, DYNAMIC, VISUAL, CUDA
        )  # the step's K/V as the cache now holds them (FP8: code x scale), attended below from registers
    else:
        q = tl.load(q_ptr + b * stride_qb + (h * G + g)[:, None] * stride_qh + d[None, :], mask=gmask[:, None], other=0)
        valid0, k0, v0 = load_block(
            k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, first, bound, d, DT, IS_FP8, False
        )
    if TRACE:  # q loaded after the wait (and rotated): what follows is the dots over the cache
        t5, c5 = timer_after(tl.sum(tl.sum(q.to(tl.float32), 1), 0))
    m = tl.full((G_PAD,), float("-inf"), dtype=tl.float32)
    l_sum = tl.zeros((G_PAD,), dtype=tl.float32)
    acc = tl.zeros((G_PAD, D), dtype=tl.float32)
    m, l_sum, acc = attend(q, k0, v0, valid0, m, l_sum, acc, sm_scale)
    if FUSE_ROPE:
        for j in tl.static_range(PREFETCH - 1):
            m, l_sum, acc = attend(q, ahead[j][1], ahead[j][2], ahead[j][0], m, l_sum, acc, sm_scale)
    for l0 in range((PREFETCH if FUSE_ROPE else 1) * BLOCK_L, chunk, BLOCK_L):
        valid, k, v = load_block(
            k_ptr, v_ptr, ks_ptr, vs_ptr, valid_row, cache_row, scale_row, first + l0, bound, d, DT, IS_FP8, FUSE_ROPE
        )
        m, l_sum, acc = attend(q, k, v, valid, m, l_sum, acc, sm_scale)
    if TRACE:  # the cache's blocks done; the step's own key follows
        t6, c6 = timer_after(tl.sum(l_sum))
    if FUSE_ROPE:
        m, l_sum, acc = attend_token(q, k_held.to(DT), v_held.to(DT), token_valid, m, l_sum, acc, sm_scale)
    if TRACE:
        t2, c2 = timer_after(tl.sum(l_sum))
        t3, c3, t4, c4, combined = t2, c2, t2, c2, 0
    if PDL == PDL_LATE:
        gdc_launch_dependents()  # after the wait: the next kernel may start loading its weights
    if num_splits == 1 and not PARTIALS_OUT:
        out = acc / tl.where(l_sum == 0, 1.0, l_sum)[:, None]
        tl.store(
            out_ptr + (b * HKV * G + h * G + g)[:, None] * D + d[None, :],
            out.to(out_ptr.dtype.element_ty),
            mask=gmask[:, None],
        )
        if TRACE:
            t4, c4 = timer_after(tl.sum(out))
    else:
        BH = tl.num_programs(0)
        row = bh * grid_splits + split
        store_partial(part_ptr, ml_ptr, row, BH * grid_splits, acc, m, l_sum, g, d, gmask, G_PAD)
        if PARTIALS_OUT:
            if split == 0:
                tl.store(count_ptr + bh, num_splits)
        elif COMBINE_IN_KERNEL:
            tl.debug_barrier()  # every thread's partial stores precede the release below
            arrived = tl.atomic_add(count_ptr + bh, 1, sem="acq_rel", scope="gpu")
            if TRACE:
                t3, c3 = timer_after(arrived.to(tl.float32))
                t4, c4 = t3, c3
            if arrived == num_splits - 1:  # the last split of this head: all partials are visible
                last = combine_partials(
                    part_ptr, ml_ptr, out_ptr, bh, BH, grid_splits, num_splits, HKV, G, G_PAD, G_ROWS, D,
                    COMBINE_SPLITS, COMBINE_FORM == 1,
                )  # fmt: skip
                tl.atomic_xchg(count_ptr + bh, 0, sem="relaxed", scope="gpu")  # ready for the next launch
                if TRACE:
                    t4, c4 = timer_after(last)
                    combined = 1
    if TRACE:
        store_trace(
            trace_ptr, trace_count_ptr, t0, c0, t1, c1, t2, c2, t3, c3, t4, c4, bh, split, num_splits, combined, t5,
            c5, t6, c6, TRACE_RECORDS, TRACE_WIDTH,
        )  # fmt: skip


@triton.jit
def combine_kernel(
    part_ptr, ml_ptr, out_ptr, grid_splits, max_splits, slot_ptr, HKV: tl.constexpr, G: tl.constexpr,
    G_PAD: tl.constexpr, G_ROWS: tl.constexpr, D: tl.constexpr, BLOCK_L: tl.constexpr, COMBINE_SPLITS: tl.constexpr,
    FUSE_ROPE: tl.constexpr, COMBINE_FORM: tl.constexpr,
):  # fmt: skip
    """The second launch of the two-launch scheme (``COMBINE_IN_KERNEL=False``): the splits the attention kernel
    ran (with ``FUSE_ROPE``, those of the step's context, from its slot; one split wrote the output itself), combined
    in the attention kernel's form (``COMBINE_FORM``), so both schemes sum the splits in one order."""
    num_splits = grid_splits
    if FUSE_ROPE:
        num_splits, _ = context_splits(tl.load(slot_ptr).to(tl.int32) + 1, grid_splits, max_splits, BLOCK_L,
                                       COMBINE_SPLITS)  # fmt: skip
    if num_splits > 1:
        combine_partials(
            part_ptr, ml_ptr, out_ptr, tl.program_id(0), tl.num_programs(0), grid_splits, num_splits, HKV, G, G_PAD,
            G_ROWS, D, COMBINE_SPLITS, COMBINE_FORM == 1,
        )  # fmt: skip
