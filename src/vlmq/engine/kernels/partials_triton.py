"""The decode attention's partials, as its kernel writes them and as a consumer combines them (Triton; imported only
where a kernel runs).

The attention splits each head's cache across programs; each leaves a partial (its fp32 accumulator, the running
maximum and sum of its softmax). Either the last of a head's programs to arrive combines them (an arrival counter:
``attention_triton``), or, with ``PARTIALS_OUT``, nobody in the attention does: the next kernel, o_proj's GEMV,
combines them as it loads its input row (``attention_output``), so the step's critical path loses the barrier, the
atomic and the reload of every partial that the last program's combine costs.

Layout, for BH = batch rows x KV heads and S splits in the grid: acc [BH, S, G_PAD, D] fp32; ml [2, BH, S, G_PAD]
fp32 (maxima, then sums); count [BH] int32 (the splits a head ran: its context's, at most S).
"""

import triton
import triton.language as tl


@triton.jit
def store_partial(part_ptr, ml_ptr, row, rows, acc, m, l_sum, g, d, gmask, G_PAD: tl.constexpr):
    """Partial ``row`` (= bh * S + split) of ``rows`` (= BH * S): acc [G_PAD, D] (the real G rows), max, sum."""
    D: tl.constexpr = d.shape[0]
    tl.store(part_ptr + (row * G_PAD + g)[:, None] * D + d[None, :], acc, mask=gmask[:, None])
    tl.store(ml_ptr + row * G_PAD + g, m)
    tl.store(ml_ptr + (rows + row) * G_PAD + g, l_sum)  # sums after maxima


@triton.jit
def attention_output(xpart, b, cols, live, MAX_SPLITS: tl.constexpr):
    """The attention's output of batch row ``b`` at columns ``cols`` (query head * D + d; any shape), fp32, from
    its partials: ``xpart`` = (acc, ml, count pointers, BH, S, KV heads, G, G_PAD, D). The combine of
    ``attention_triton.combine_partials`` element by element: the heads' maxima first, then the weighted sums
    (``MAX_SPLITS`` >= S, a static loop; the splits past a head's count are masked). 0 where ``live`` is false."""
    part_ptr, ml_ptr, count_ptr, BH, S, HKV, G, G_PAD, D = xpart
    qh = cols // D
    kvh = qh // G
    gi = qh - kvh * G
    d = cols - qh * D
    bh = b * HKV + kvh
    n = tl.load(count_ptr + bh, mask=live, other=0)
    m_max = tl.full(cols.shape, float("-inf"), tl.float32)
    for s in tl.static_range(MAX_SPLITS):
        m = tl.load(ml_ptr + (bh * S + s) * G_PAD + gi, mask=live & (s < n), other=float("-inf"))
        m_max = tl.maximum(m_max, m)
    m_safe = tl.where(m_max == float("-inf"), 0.0, m_max)
    total = tl.zeros(cols.shape, dtype=tl.float32)
    out = tl.zeros(cols.shape, dtype=tl.float32)
    for s in tl.static_range(MAX_SPLITS):
        row = bh * S + s
        on = live & (s < n)
        m = tl.load(ml_ptr + row * G_PAD + gi, mask=on, other=float("-inf"))
        l_sum = tl.load(ml_ptr + (BH * S + row) * G_PAD + gi, mask=on, other=0.0)
        acc = tl.load(part_ptr + (row * G_PAD + gi) * D + d, mask=on, other=0.0)
        w = tl.exp(m - m_safe)  # 0 for masked splits
        total += w * l_sum
        out += w * acc
    return out / tl.where(total == 0, 1.0, total)  # a row with no valid slot gives 0
