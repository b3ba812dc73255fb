"""The Triton kernel behind ``vlmq.engine.kernels.greedy`` (imported only where it runs: a GPU, or Triton's
interpreter in tests). The design, and why, is in greedy.py's docstring."""

import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_wait

LOWEST_KEY: tl.constexpr = tl.constexpr(-(2**31))  # below every value's key: lanes past the vocabulary
NAN_KEY: tl.constexpr = tl.constexpr(2**31 - 1)  # above +inf's: torch.argmax takes a NaN as the maximum


@triton.jit
def argmax_keys(v):
    """fp32 values → int32 keys ordered as torch.argmax orders the values: the float's bits with the magnitude
    bits of negatives flipped (so the integer order is the float order), -0 keyed as +0 (they compare equal, so
    the first index of either wins), every NaN above +inf."""
    bits = v.to(tl.int32, bitcast=True)
    key = tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    key = tl.where(v == 0.0, 0, key)
    return tl.where(v != v, NAN_KEY, key)


@triton.jit
def greedy_advance_kernel(
    logits_ptr,
    stride_lb,
    token_ptr,
    pos_ptr,
    slot_ptr,
    valid_ptr,
    stride_vb,
    history_ptr,
    stride_hb,
    finished_ptr,
    eos_ptr,
    n_eos,
    key_ptr,
    index_ptr,
    count_ptr,
    done_ptr,
    B,
    V,
    L,
    PIECE: tl.constexpr,
    PIECES: tl.constexpr,
    PIECES_PAD: tl.constexpr,
    EOS_PAD: tl.constexpr,
    PDL: tl.constexpr,
):
    """Program (piece, row): the first maximum of ``PIECE`` logits of the row, stored as (key, index); then it
    counts in on the row's counter. The row's last program picks the row's first maximum over its pieces (in
    order, so ties go to the first index) and writes the row's token, history at the slot, next key slot, EOS
    flag and position, resets the row's counter and counts in on ``done``; the last row moves the shared slot on
    (every row has read it by then) and resets ``done``. Counters start at 0 and end at 0, so the next launch (a
    CUDA graph's replay) finds them so."""
    piece = tl.program_id(0)
    row = tl.program_id(1)
    cols = piece * PIECE + tl.arange(0, PIECE)
    if PDL:
        gdc_wait()  # the logits are the previous kernel's (the lm_head GEMV's) output
    v = tl.load(logits_ptr + row.to(tl.int64) * stride_lb + cols, mask=cols < V, other=0.0).to(tl.float32)
    keys = tl.where(cols < V, argmax_keys(v), LOWEST_KEY)
    part = row * PIECES + piece
    tl.store(key_ptr + part, tl.max(keys, axis=0))
    tl.store(index_ptr + part, piece * PIECE + tl.argmax(keys, axis=0, tie_break_left=True))
    tl.debug_barrier()  # the piece's result is written before the release
    arrived = tl.atomic_add(count_ptr + row, 1, sem="acq_rel")
    if arrived == PIECES - 1:
        p = tl.arange(0, PIECES_PAD)
        best = tl.argmax(
            tl.load(key_ptr + row * PIECES + p, mask=p < PIECES, other=LOWEST_KEY, cache_modifier=".cg"),
            axis=0,
            tie_break_left=True,
        )
        chosen = tl.load(index_ptr + row * PIECES + best, cache_modifier=".cg").to(tl.int64)
        slot = tl.load(slot_ptr)
        following = tl.minimum(slot + 1, L - 1)
        tl.store(history_ptr + row * stride_hb + slot, chosen)
        tl.store(valid_ptr + row * stride_vb + following, 1)
        e = tl.arange(0, EOS_PAD)
        eos = tl.load(eos_ptr + e, mask=e < n_eos, other=-1)
        hit = tl.max((eos == chosen).to(tl.int32), axis=0)
        tl.store(finished_ptr + row, (tl.load(finished_ptr + row).to(tl.int32) | hit).to(tl.uint8))
        tl.store(token_ptr + row, chosen)
        tl.store(pos_ptr + row, tl.load(pos_ptr + row) + 1)
        tl.atomic_xchg(count_ptr + row, 0)
        rows_done = tl.atomic_add(done_ptr, 1, sem="acq_rel")
        if rows_done == B - 1:
            tl.store(slot_ptr, following)
            tl.atomic_xchg(done_ptr, 0)
