"""The greedy advance that ends a captured decode step (``vlmq::greedy_advance``), in one kernel.

After the lm_head, on the device: each row's greedy token (the first index of its largest logit, as
``torch.argmax``) becomes the next step's input and goes to the history at the step's slot, EOS marks its row
finished, position and slot move on one, and the next slot becomes attendable (capped at the last slot, the
scratch slot of warm-up). So a CUDA graph of the step replays back to back with no host work between tokens.

Why one kernel: Inductor ran this tail as seven kernels on the H200 (the logits cast to fp32, a two-stage argmax,
then one kernel per updated buffer: history, key mask, position, slot), 1-2 us each plus a launch gap, every step
(2b profiles, docs/benchmarks.md). Here the programs of one launch each take a ``PIECE`` of a row's logits (bf16,
read as they are), store the piece's first maximum and count in on the row's counter; the row's last program
reduces the pieces and writes the row's buffers, and the last row moves the shared slot on
(``greedy_triton.greedy_advance_kernel``) -- the last-arriving pattern of the GEMV's split K. It waits on the lm_head
by programmatic dependent launch, so its launch overlaps the lm_head's tail.

``greedy_advance_reference`` is the same update in PyTorch (the op off CUDA); the op runs the kernel on CUDA and
``launch_greedy_advance`` on whatever device Triton runs on (Triton's CPU interpreter in tests).
"""

from __future__ import annotations

import functools
import math
import os

import torch

from vlmq.engine.kernels.pdl import launch_pdl
from vlmq.errors import VlmqError

ARGMAX_CHUNKS = 128  # the reference: a vocabulary row's argmax in up to this many parallel pieces
PIECE = 1024  # logits a program of the kernel reduces (151936 → 149 programs a row)
MAX_ROWS = 1024  # rows the kernel's counters serve
# how the compiled step advances: "kernel" (vlmq::greedy_advance) or "inductor" (the reference compiled, as before:
# an A/B's other side, read when a runner is built)
GREEDY_ADVANCE_ENV = "VLMQ_GREEDY_ADVANCE"
GREEDY_ADVANCES = ("kernel", "inductor")


def greedy_advance_mode() -> str:
    """How the compiled decode step advances: ``$VLMQ_GREEDY_ADVANCE``, ``kernel`` by default."""
    value = os.environ.get(GREEDY_ADVANCE_ENV, "kernel")
    if value not in GREEDY_ADVANCES:
        raise VlmqError(f"{GREEDY_ADVANCE_ENV}={value!r}: use {' or '.join(GREEDY_ADVANCES)}")
    return value


def greedy_choice(logits: torch.Tensor) -> torch.Tensor:
    """[B] ``logits.argmax(-1)`` (the first index of the maximum) in two stages: the row's pieces reduce in
    parallel, then their maxima. Inductor reduced a whole 151936-wide row in one program: 27 us a step on the
    H200 (2b profile, 2026-11-30 sixth session), against ~8 for ATen's kernel."""
    b, vocab = logits.shape
    pieces = math.gcd(vocab, ARGMAX_CHUNKS)
    values, index = logits.view(b, pieces, vocab // pieces).max(dim=-1)
    best = values.argmax(dim=-1, keepdim=True)  # the first piece holding the maximum: its first index is the row's
    return (best * (vocab // pieces) + index.gather(-1, best)).squeeze(-1)


def greedy_advance_reference(logits, token, pos, slot, key_valid, history, finished, eos) -> None:
    """``vlmq::greedy_advance`` in PyTorch: logits [B, V]; token, pos [B] long; slot [1] long; key_valid [B, L] bool;
    history [B, L] long; finished [B] bool; eos [E] long. Written as comparisons over the slots rather than
    scatters, which Inductor fuses into few kernels."""
    b, length = key_valid.shape
    chosen = greedy_choice(logits)
    following = (slot + 1).clamp_max(length - 1)
    cols = torch.arange(length, device=slot.device)
    history.copy_(torch.where(cols == slot, chosen[:, None], history))
    key_valid.logical_or_(cols == following)
    finished.logical_or_((chosen[:, None] == eos).any(dim=-1))
    token.copy_(chosen)
    pos.add_(1)
    slot.copy_(following)


greedy_advance = torch.library.custom_op(
    "vlmq::greedy_advance",
    greedy_advance_reference,
    mutates_args=("token", "pos", "slot", "key_valid", "history", "finished"),
    schema=(
        "(Tensor logits, Tensor(a1!) token, Tensor(a2!) pos, Tensor(a3!) slot, Tensor(a4!) key_valid, "
        "Tensor(a5!) history, Tensor(a6!) finished, Tensor eos) -> ()"
    ),
)


@greedy_advance.register_fake
def _(logits, token, pos, slot, key_valid, history, finished, eos):
    return None


@functools.cache
def _counters(device: torch.device) -> torch.Tensor:
    """The kernel's zeroed counters on ``device``: one per row, then the rows done (each launch leaves them 0)."""
    return torch.zeros(MAX_ROWS + 1, dtype=torch.int32, device=device)


def check_advance_inputs(logits, token, pos, slot, key_valid, history, finished, eos) -> None:
    """The kernel's layout, or a one-line ValueError naming what to pass."""
    b, vocab = logits.shape
    if not logits.is_floating_point() or logits.stride(-1) != 1:
        raise ValueError("greedy_advance: logits must be float [B, V] with a contiguous last dim")
    if b > MAX_ROWS or vocab >= 2**31:
        raise ValueError(f"greedy_advance: at most {MAX_ROWS} rows and 2^31 - 1 logits a row (got {b} x {vocab})")
    longs = (token, pos, slot, history, eos)
    if any(t.dtype != torch.long for t in longs) or {key_valid.dtype, finished.dtype} != {torch.bool}:
        raise ValueError("greedy_advance: token, pos, slot, history and eos must be long; key_valid and finished bool")
    if token.shape != (b,) or pos.shape != (b,) or finished.shape != (b,) or slot.numel() != 1:
        raise ValueError("greedy_advance: token, pos and finished must be [B], slot one element")
    if key_valid.shape[0] != b or history.shape != key_valid.shape or key_valid.stride(-1) != 1:
        raise ValueError("greedy_advance: key_valid and history must be [B, L] with a contiguous last dim")
    if any(not t.is_contiguous() for t in (token, pos, finished, eos)) or history.stride(-1) != 1:
        raise ValueError("greedy_advance: token, pos, finished, eos and history's rows must be contiguous")


def launch_greedy_advance(logits, token, pos, slot, key_valid, history, finished, eos) -> None:
    """The Triton kernel (the op's CUDA path; tests run it in Triton's CPU interpreter)."""
    check_advance_inputs(logits, token, pos, slot, key_valid, history, finished, eos)
    b, vocab = logits.shape
    pieces = -(-vocab // PIECE)
    keys = torch.empty((b, pieces), dtype=torch.int32, device=logits.device)
    index = torch.empty_like(keys)
    counters = _counters(logits.device)
    from vlmq.engine.kernels.greedy_triton import greedy_advance_kernel

    greedy_advance_kernel[(pieces, b)](
        logits,
        logits.stride(0),
        token,
        pos,
        slot,
        key_valid.view(torch.uint8),
        key_valid.stride(0),
        history,
        history.stride(0),
        finished.view(torch.uint8),
        eos,
        eos.numel(),
        keys,
        index,
        counters,
        counters[MAX_ROWS:],
        b,
        vocab,
        key_valid.shape[1],
        PIECE=PIECE,
        PIECES=pieces,
        PIECES_PAD=1 << max(pieces - 1, 0).bit_length(),
        EOS_PAD=1 << max(eos.numel() - 1, 0).bit_length(),
        num_warps=4,
        **launch_pdl(logits.device, None, "greedy"),
    )


greedy_advance.register_kernel("cuda", launch_greedy_advance)
