"""Decode attention over the static KV cache (BF16 or FP8 entries) in one launch, and its plain-math reference.

``vlmq::decode_attention`` reads FP8 entries directly (no BF16 copy of the cache); a pure-torch
reference (``decode_attention_reference``, built on ``grouped_attention``) runs on CPUs and in tests.
``vlmq::rope_kv_decode_attention`` also does the step's RoPE and KV-cache write (``vlmq::rope_kv_write``)
in the attention kernel's prologue: the whole attention of a decode step is one kernel.

Why one launch: at a 300-token context the two-launch scheme (split kernel, then a combine kernel) cost
~3 us a layer for each launch on the H200 (qwen2-vl-2b), most of it launch latency. The kernel
(``attention_triton``) splits the cache to fill the GPU and the last program of each head to finish
combines the partials (an arrival counter per head, reset by that program).
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import torch

from vlmq.engine.kernels.pdl import launch_pdl
from vlmq.engine.kernels.rope_kv import (
    CACHE_MUTATED,
    ROPE_KV_SCHEMA,
    cache_tensors,
    kernel_args,
    layer_kv,
    rope_kv_reference,
    triton_pow2,
)
from vlmq.engine.kv_cache import LayerKV, dequantize_fp8
from vlmq.errors import VlmqError


class AttentionPartials(NamedTuple):
    """What the decode attention leaves with ``partials_out`` (layout: ``partials_triton``): each split's fp32
    accumulator [B * kv_heads, splits, g_pad, head_dim], maxima and sums [2, B * kv_heads, splits, g_pad], each
    head's split count [B * kv_heads] int32; the output is theirs combined, [B, heads * head_dim]."""

    acc: torch.Tensor
    ml: torch.Tensor
    count: torch.Tensor
    kv_heads: int
    groups: int
    g_pad: int
    splits: int
    head_dim: int


def grouped_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Plain-math GQA attention (what Inductor fuses best for decode, as in gpt-fast): query head h
    reads KV head h // groups, like ``repeat_interleave``, without materialising repeated K/V."""
    b, hq, t, d = q.shape
    hkv, length = k.shape[1], k.shape[2]
    groups = hq // hkv
    scores = (q.reshape(b, hkv, groups * t, d) @ k.transpose(-1, -2)).float() * d**-0.5
    scores = scores.view(b, hkv, groups, t, length).masked_fill(~mask.unsqueeze(2), float("-inf"))
    probs = scores.softmax(dim=-1).to(q.dtype).view(b, hkv, groups * t, length)
    return (probs @ v).view(b, hq, t, d)


# ----- decode attention over the static cache (BF16 or FP8 entries) ------------------------------------
ATTN_BLOCK_L = 64
ATTN_BLOCK_LS = (32, ATTN_BLOCK_L)  # the block sizes a launch takes: the default and a candidate plan's
# Launch plan from the H200 (bench_attention.py, call 2: qwen2-vl-2b heads, 28 layers in a CUDA graph, us a
# layer; "single" = one launch at 512 programs, "t256" = one launch at 256, "two" = split + combine kernels):
#   context   batch  BF16 cache: two / single / t256     FP8 (dynamic) cache: two / single / t256
#     300       1          10.49 / 10.21 / 10.23               12.02 / 12.35 / 12.30
#     300      16          13.03 / 14.86 / 14.86               13.28 / 14.96 / 15.01
#    2048      16          25.16 / 30.85 / 21.96               26.61 / 27.09 / 25.71
#    8192      16          61.98 / 68.45 / 46.75               63.70 / 53.48 / 58.87
# (batch 1 at 2k / 8k: one launch, ~2x faster than two; 256 or 512 programs alike.) So 256 programs for BF16
# caches; FP8 ones took 512 at 2 warps, and take 256 since they run at 4 (``ATTN_WARPS``: at 4 warps two FP8 programs
# fit an SM, so 480 ran in two waves at issue 17's long point, 256 in one -- whole steps below). The combine in a
# second launch only where every split is one block (short caches) and the heads are many (batch 16) or the cache FP8.
ATTN_TARGET_PROGRAMS = 256  # every cache
TWO_LAUNCH_MIN_HEADS = 32  # (batch row, KV head) pairs from which short BF16 caches combine apart
COMBINE_SPLITS = 8  # partials the combine reads per step (their loads in flight together)
MAX_PREFETCH_BLOCKS = 8  # cache blocks a fused program may load before the PDL wait (each held in registers)
MAX_HEAD_COUNTERS = 1 << 16  # arrival counters: one per (batch row, KV head) of a launch
_counters: dict[torch.device, torch.Tensor] = {}
# The fused decode attention's plan set by hand as the op launches, for an A/B of whole decode steps
# (bench_decode_ab.py --env VLMQ_ATTENTION_PLAN): comma-separated key=value, e.g. "prefetch=2,splits=3". Why: the plan
# above and ATTN_WARPS were chosen in bench_attention.py with 28 layer caches in a CUDA graph, ~8 MB that stay
# in L2, while in a decode step each layer's cache comes from HBM (3 GB of weights stream between its visits), where
# a dependent cache load after the PDL wait costs a full HBM round trip. Unset, empty or "default": the defaults.
ATTENTION_PLAN_ENV = "VLMQ_ATTENTION_PLAN"
# key: (launch_decode_attention's keyword, the values it takes)
ATTENTION_PLAN_KEYS = {
    "prefetch": ("prefetch_blocks", tuple(range(1, MAX_PREFETCH_BLOCKS + 1))),
    "warps": ("num_warps", (1, 2, 4, 8)),
    "splits": ("max_splits", tuple(range(1, 65))),
    "targets": ("target_programs", (64, 128, 256, 512, 1024)),
    "combine": ("combine_form", (0, 1)),
    "stages": ("num_stages", (1, 2, 3)),
    "rounding": ("rounding", (0, 1)),
    "block": ("block_l", ATTN_BLOCK_LS),
}


# A trace of the fused decode attention as it runs in a decode step ($VLMQ_ATTENTION_TRACE=1, read as the op launches;
# bench_attention_trace.py): each program leaves a record of when it started, when the PDL wait returned, when q was
# loaded (and rotated) after it, when its cache blocks and then its attention (with the step's own key), its arrival
# and its end were done (global ns timer and SM cycles), so a step's ~9.4 us of attention a layer against ~6.4 alone
# (twenty-third session) can be split into its phases (twenty-fourth: ~3.2 us attention, ~1.2 arrival, ~2 combine).
# A ring of TRACE_RECORDS records.
ATTENTION_TRACE_ENV = "VLMQ_ATTENTION_TRACE"
TRACE_RECORDS = 1 << 16
TRACE_FIELDS = (
    "t_start", "t_wait", "t_attend", "t_arrive", "t_end",
    "c_start", "c_wait", "c_attend", "c_arrive", "c_end",
    "bh", "split", "splits", "combined", "t_loaded", "c_loaded", "t_blocks", "c_blocks",
)  # fmt: skip
TRACE_WIDTH = 24  # int64 values a record holds (TRACE_FIELDS, then unused)
_traces: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def persistent_buffers(store: dict, device: torch.device, what: str, make):
    """``store``'s buffers for ``device``, made by ``make()`` at the first use. Persistent, since CUDA graphs keep
    pointing at them, so the first use must not be inside a CUDA-graph capture (the engine and the benchmarks warm
    up first)."""
    bufs = store.get(device)
    if bufs is None:
        if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
            raise VlmqError(
                f"{what} ran first inside a CUDA-graph capture; run the step once before capturing (warm-up)"
            )
        bufs = store[device] = make()
    return bufs


def attention_trace_setting() -> bool:
    """``$VLMQ_ATTENTION_TRACE``: 1 traces the fused decode attention's programs, unset / empty / 0 not."""
    value = os.environ.get(ATTENTION_TRACE_ENV, "").strip()
    if value not in ("", "0", "1"):
        raise VlmqError(f"{ATTENTION_TRACE_ENV}={value!r}: use 1 (trace the decode attention's programs) or 0")
    return value == "1"


def trace_device(device) -> torch.device:
    """``device`` with its index (``cuda`` is the current CUDA device), so a launch's tensors and a reader agree."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def attention_trace_buffers(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The device's trace ring ([TRACE_RECORDS, TRACE_WIDTH] int64) and its int32 write counter
    (``persistent_buffers``, like the arrival counters)."""
    device = trace_device(device)

    def ring():
        return (
            torch.zeros(TRACE_RECORDS, TRACE_WIDTH, dtype=torch.int64, device=device),
            torch.zeros(1, dtype=torch.int32, device=device),
        )

    return persistent_buffers(_traces, device, "the attention trace", ring)


def read_attention_trace(device: torch.device, reset: bool = True) -> list[dict]:
    """The records the traced launches left since the last reset, oldest first (the ring's last TRACE_RECORDS), as
    dicts of ``TRACE_FIELDS``; ``reset`` empties the ring."""
    device = trace_device(device)
    if device not in _traces:
        return []
    records, count = _traces[device]
    n = int(count.item())
    rows = records.cpu()
    order = list(range(n)) if n <= TRACE_RECORDS else [(n + i) % TRACE_RECORDS for i in range(TRACE_RECORDS)]
    out = [dict(zip(TRACE_FIELDS, rows[i, : len(TRACE_FIELDS)].tolist())) for i in order]
    if reset:
        records.zero_()
        count.zero_()
    return out


def attention_plan_setting() -> dict:
    """``$VLMQ_ATTENTION_PLAN`` as launch_decode_attention keywords ({}: unset, empty or ``default``)."""
    return parse_attention_plan(os.environ.get(ATTENTION_PLAN_ENV, ""))


def parse_attention_plan(value: str) -> dict:
    """A plan in ``$VLMQ_ATTENTION_PLAN``'s form as launch_decode_attention keywords; a bad one refused in one line."""
    value = value.strip()
    if value == "default":
        return {}
    out = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, _, number = item.partition("=")
        name, allowed = ATTENTION_PLAN_KEYS.get(key.strip(), (None, ()))
        if name is None or not number.strip().isdigit() or int(number) not in allowed:
            keys = ", ".join(f"{k} in {values_text(v[1])}" for k, v in ATTENTION_PLAN_KEYS.items())
            raise VlmqError(f"{ATTENTION_PLAN_ENV}={value!r}: use comma-separated key=value ({keys}), e.g. prefetch=2")
        out[name] = int(number)
    return out


def values_text(values: tuple[int, ...]) -> str:
    """A plan key's values as an error names them: ``1..8`` where they run on, ``1|2|4|8`` where they do not."""
    whole = list(values) == list(range(values[0], values[-1] + 1))
    return f"{values[0]}..{values[-1]}" if whole else "|".join(str(v) for v in values)


def decode_attention_reference(q, k, v, k_scale, v_scale, key_valid):
    """Dequantize the whole cache and run grouped attention (the unfused arithmetic).

    Also ``vlmq::decode_attention`` off CUDA: one query token [B, Hq, 1, D] against cache [B_max, H_kv, L, D]
    (bf16, or uint8 FP8 bits with [B_max, H_kv, L] scales); ``key_valid`` [B, L] marks the slots to attend.
    On CUDA, ``launch_decode_attention`` reads FP8 directly."""
    b = q.shape[0]
    k, v = k[:b], v[:b]
    if k_scale is not None:
        k, v = dequantize_fp8(k, k_scale[:b], q.dtype), dequantize_fp8(v, v_scale[:b], q.dtype)
    return grouped_attention(q, k.to(q.dtype), v.to(q.dtype), key_valid[:, None, None, :])


decode_attention = torch.library.custom_op(
    "vlmq::decode_attention",
    decode_attention_reference,
    mutates_args=(),
    schema="(Tensor q, Tensor k, Tensor v, Tensor? k_scale, Tensor? v_scale, Tensor key_valid) -> Tensor",
)


@decode_attention.register_fake
def _(q, k, v, k_scale, v_scale, key_valid):
    return torch.empty_like(q)


def rope_kv_decode_attention_reference(
    q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, slot, token_type, key_valid
):
    """``rope_kv_write`` then ``decode_attention`` (the unfused arithmetic); output [B, Hq, 1, D].

    Also ``vlmq::rope_kv_decode_attention`` off CUDA: a decode step's attention from the raw projections
    q/k/v [B, 1, heads * D]: RoPE, the K/V write at cache slot ``slot`` [1] (as ``vlmq::rope_kv_write``), then
    attention over ``key_valid`` slots -- one kernel on CUDA.

    Contract: every valid key precedes ``slot`` (``key_valid`` is False after it; at ``slot`` it says whether the
    step attends to its own token), as in the engine, whose static cache is filled in order, left-padded. The
    CUDA kernel relies on it: it reads the cache below ``slot`` only, takes the step's own K/V from registers,
    and sizes its work by ``slot + 1``, not by the static cache length. With programmatic dependent launch it
    reads ``slot``, ``key_valid``, ``cos``/``sin``, ``token_type`` and the cache before waiting for the kernel
    just before it, so only q/k/v may come from that kernel (the engine's QKV projection)."""
    kv = layer_kv(k_cache, v_cache, k_scale, v_scale, tables)
    q_rot = rope_kv_reference(q, k, v, cos, sin, kv, slot, token_type)
    return decode_attention_reference(q_rot, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid)


rope_kv_decode_attention = torch.library.custom_op(
    "vlmq::rope_kv_decode_attention",
    rope_kv_decode_attention_reference,
    mutates_args=CACHE_MUTATED,
    schema=f"({ROPE_KV_SCHEMA}, Tensor slot, Tensor token_type, Tensor key_valid) -> Tensor",
)


def launch_fused_attention(q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, slot, token_type, key_valid):
    """``vlmq::rope_kv_decode_attention``'s CUDA launch: the default plan, or ``$VLMQ_ATTENTION_PLAN``'s; traced where
    ``$VLMQ_ATTENTION_TRACE`` says."""
    launch = dict(rope=(k, v, cos, sin, tables, slot, token_type), trace=attention_trace_setting())
    launch.update(attention_plan_setting())
    return launch_decode_attention(q, k_cache, v_cache, k_scale, v_scale, key_valid, **launch)


rope_kv_decode_attention.register_kernel("cuda", launch_fused_attention)


@rope_kv_decode_attention.register_fake
def _(q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, slot, token_type, key_valid):
    d = k_cache.shape[-1]
    return q.new_empty((q.shape[0], q.shape[-1] // d, 1, d))


def rope_write_decode_attention(q, k, v, cos, sin, kv: LayerKV, slot, token_type, key_valid) -> torch.Tensor:
    """What the decoder layer calls at decode: ``rope_kv_decode_attention`` over a ``LayerKV``."""
    return rope_kv_decode_attention(q, k, v, cos, sin, *cache_tensors(kv), slot, token_type, key_valid)


def attention_splits(
    batch_kv_heads: int,
    length: int,
    target_programs: int = ATTN_TARGET_PROGRAMS,
    max_splits: int | None = None,
    block_l: int = ATTN_BLOCK_L,
) -> tuple[int, int]:
    """(splits, slots per split): enough programs to fill the GPU, each a whole number of blocks, and not so
    many splits that the combine (one program reads every partial) outweighs the split work: at most
    ~2 sqrt(blocks), and never fewer than one combine step of ``COMBINE_SPLITS``.

    Measured on the H100 (qwen2-vl-2b, ~350-token cache, batch 1): one pass of 6 blocks per KV head took
    12.2 us a layer, split into 6 programs plus the combine kernel 6.4 us, so short caches split too (the
    combine now runs in the same launch). ``block_l``: cache slots a block (the kernel's BLOCK_L)."""
    blocks = -(-length // block_l)
    if max_splits is None:
        max_splits = max(COMBINE_SPLITS, round(2 * math.sqrt(blocks)))
    splits = max(1, min(blocks, target_programs // max(batch_kv_heads, 1), max_splits))
    chunk = -(-blocks // splits) * block_l
    return -(-length // chunk), chunk


def attention_plan(
    batch_kv_heads: int,
    length: int,
    fp8: bool,
    *,
    target_programs: int | None = None,
    max_splits: int | None = None,
    combine_in_kernel: bool | None = None,
    block_l: int = ATTN_BLOCK_L,
) -> tuple[int, int, bool]:
    """(splits, slots per split, whether the last split combines in the same launch): the measured defaults
    above unless the caller fixes them."""
    splits, chunk = attention_splits(
        batch_kv_heads, length, target_programs or ATTN_TARGET_PROGRAMS, max_splits, block_l
    )
    if combine_in_kernel is None:
        one_block = chunk <= block_l
        combine_in_kernel = not (splits > 1 and one_block and (fp8 or batch_kv_heads >= TWO_LAUNCH_MIN_HEADS))
    return splits, chunk, combine_in_kernel


# Warps a program of the decode attention, every cache and launch. One count for every cache length: the warps set how
# the sums round, and the fused op's output must not depend on the static cache length beyond the context. History:
# the sixth session chose 2 for the fused kernel (bench_attention.py, H200, 2b heads, context 300: BF16 batch 1 7.80 ->
# 6.75 us a layer at 4 -> 2 warps) and the twenty-third kept it in whole steps (2b BF16 1.329 vs 1.371 ms/token at 4).
# On the kernel as it now stands (a pipeliner stage, a combine tile a split, the block loaded before the PDL wait) 4
# warps issue fewer instructions a warp in every phase (sm_90 SASS, Triton 3.6: blocks 624 -> 379 outside its loop,
# combine 884 -> 563), and whole steps on the H200 (bench_decode_ab.py, 2 -> 4 warps, forty-fourth session) went,
# BF16 cache: 2b batch 1 1.243 -> 1.193 ms/token, batch 16 1.480 -> 1.468, 7b batch 1 3.755 -> 3.700; FP8 cache
# (bf16+kv_fp8): 2b batch 1 1.388 -> 1.234, batch 16 1.594 -> 1.467. FP8 first stayed at 2, as at issue 17's long
# point (8192 cached tokens x batch 16, `vlmq run --tasks speed-long`, 3 stages) 4 warps at 512 programs took 2.696
# ms/token against 2.553 at 2 and BF16's 2.568; at 256 programs (one wave) the forty-fifth session measured FP8 at 4
# warps 2.471 against BF16's 2.570 (and 2 warps' 2.560), so every cache takes 4. 8 warps: a wash (2b BF16 batch 1
# 0.998x, batch 16 1.006x; FP8 cache batch 1 0.995x of 4).
ATTN_WARPS = 4


LONG_SPLIT_BLOCKS = 4  # cache blocks in a split of the static cache from which the block loop is pipelined


def attention_stages(chunk: int, block_l: int) -> int:
    """The software pipeliner's depth over a split's blocks: 3 where a split of the static cache holds at least
    ``LONG_SPLIT_BLOCKS`` blocks (the loop runs), 1 otherwise (a short context's one-block splits, where 3 stages only
    add the prologue's copies: ``launch_decode_attention``). The stages move loads, not sums, so they may follow the
    static cache length. On the H200 at 8192 cached tokens x batch 16 (2b, forty-fourth session) 1 -> 3 stages took
    BF16 2.638 -> 2.568 ms/token and FP8 (2 warps) 2.817 -> 2.553; between the 372-slot workload and 8192 slots the
    threshold is not measured."""
    return 3 if chunk >= LONG_SPLIT_BLOCKS * block_l else 1


def head_counters(device: torch.device, n: int) -> torch.Tensor:
    """The device's zeroed int32 arrival counters (``persistent_buffers``; the last program of each head resets its
    counter)."""
    buf = persistent_buffers(
        _counters,
        device,
        "decode attention",
        lambda: torch.zeros(MAX_HEAD_COUNTERS, dtype=torch.int32, device=device),
    )
    if n > buf.numel():
        raise VlmqError(
            f"decode attention over {n} (batch row, KV head) pairs exceeds {buf.numel()}; use a smaller max_batch_size"
        )
    return buf


def launch_decode_attention(
    q,
    k,
    v,
    k_scale,
    v_scale,
    key_valid,
    *,
    rope=None,
    combine_in_kernel: bool | None = None,
    target_programs: int | None = None,
    max_splits: int | None = None,
    num_warps: int | None = None,
    pdl: bool | None = None,
    prefetch_blocks: int = 1,
    combine_form: int = 1,
    num_stages: int | None = None,
    rounding: int = 0,
    block_l: int = ATTN_BLOCK_L,
    partials_out: bool = False,
    trace: bool = False,
):
    """The Triton kernel (the ops' CUDA path; tests run it in Triton's CPU interpreter). ``rope`` = (k_new, v_new, cos,
    sin, tables, slot, token_type) fuses the step's RoPE and cache write (q is then the raw projection [B, 1, Hq * D]).
    Splits follow ``attention_plan``, and so does the combine's launch without ``rope``; the fused op combines in its
    own launch (measured faster everywhere, below) unless given ``combine_in_kernel=False`` (the two-launch scheme).
    With programmatic dependent launch (``pdl``, default ``pdl.USE_PDL`` on Hopper) the fused kernel loads its first
    cache block (and the step's slot, rotary tables and token type: see the op's contract) while the QKV GEMV ends. With
    ``rope`` the planned splits are the grid: the kernel runs those of the step's context (``slot + 1``, same rule), the
    rest exit. ``prefetch_blocks=N`` (with ``rope``; candidate plans): each program loads its split's first N blocks
    before the PDL wait (2 measured slower; N = the context's blocks with one split is a plan with no combine at all,
    each block held in registers). ``combine_form=1`` (the default; 0 is the earlier plan, measured slower in the 2b
    and 7b BF16 steps): the last program combines each split's partial as its own tile, with no
    exchange through shared memory (``attention_triton.split_tiles_step``); the two-launch scheme's combine takes
    the same form, so the two schemes sum the splits in one order. ``num_stages``: the software pipeliner's depth
    for the loop over a split's later blocks (default: ``attention_stages`` for the fused op, 1 without ``rope``; 1 at
    a short context, where every split is one block, loaded before the wait, so the loop never runs, yet at 3 stages
    its prologue of predicated-off cp.async copies still issues after the first block's dots; on sm_90 under Triton 3.6,
    2b heads, 222 more instructions between the wait and the arrival; the H200's 2b BF16 step 1.261 -> 1.247 ms/token,
    7b 3.788 -> 3.778). ``rounding``: how the RoPE products of q and k round to bf16 on a GPU (0, the default: the
    integer arithmetic Triton's interpreter runs, ~5 instructions a value; 1, a candidate: the hardware's conversion,
    1.5; the same bits either way, ``eager_triton.round_to_bf16``; on the H200 the 2b BF16 step level at batch 1, 0.994x
    at batch 16).
    ``block_l``: cache slots a block (64, the default; 32, a candidate: with ``max_splits`` at or above the cache's
    blocks, each split of a ~300-token context is one 32-slot block, so a program's Q K^T holds half the score tiles
    -- sm_90 SASS: its four chains of 8 dependent MMAs issue back to back -- and a head combines ~10 partials instead
    of 5, two combine steps of ``COMBINE_SPLITS``; in whole BF16 steps on the H200, ``block=32,splits=12``: 2b batch 1
    0.992x, batch 16 1.020x, 7b batch 1 1.000x -- a wash, as the SASS foretold; not adopted).
    ``num_warps`` defaults to ``ATTN_WARPS``. ``partials_out`` (with ``rope``): no combine -- each split's
    partial and each head's split count are returned as ``AttentionPartials`` for the next kernel to combine
    (``partials_triton``), not the output. ``trace``: every program that runs leaves a timestamped record
    (``read_attention_trace``)."""
    if prefetch_blocks not in range(1, MAX_PREFETCH_BLOCKS + 1):
        raise VlmqError(
            f"prefetch_blocks is 1..{MAX_PREFETCH_BLOCKS} (cache blocks loaded before the PDL wait), "
            f"got {prefetch_blocks}"
        )
    if num_stages not in (None, 1, 2, 3):
        raise VlmqError(f"num_stages is 1, 2 or 3 (the pipeliner's depth over a split's blocks), got {num_stages}")
    if rounding not in (0, 1):
        raise VlmqError(f"rounding is 0 (integer arithmetic) or 1 (the hardware's bf16 conversion), got {rounding}")
    if block_l not in ATTN_BLOCK_LS:
        raise VlmqError(f"block_l is 32 or {ATTN_BLOCK_L} (cache slots a block), got {block_l}")
    if combine_form not in (0, 1):
        raise VlmqError(f"combine_form is 0 (one [splits, rows, D] tile) or 1 (a tile a split), got {combine_form}")
    if partials_out and rope is None:
        raise VlmqError("partials_out needs the fused op (rope=...): the consumer finds each head's splits from it")
    from vlmq.engine.kernels.attention_triton import (
        combine_kernel,
        decode_attention_kernel,
    )

    b, hkv, length, d = q.shape[0], k.shape[1], k.shape[2], k.shape[3]
    hq = q.shape[-1] // d if rope is not None else q.shape[1]
    groups = hq // hkv
    g_pad = max(16, triton_pow2(groups))  # tl.dot needs 16 rows
    # what both kernels (the split attention and the combine) are compiled for: the head geometry, the combine's step
    heads = {
        "HKV": hkv,
        "G": groups,
        "G_PAD": g_pad,
        "G_ROWS": triton_pow2(groups),
        "D": d,
        "COMBINE_SPLITS": COMBINE_SPLITS,
    }
    if rope is not None and combine_in_kernel is None:
        # the fused op combines in its own launch: on the H200 (bench_attention.py, 2026-11-30 call 2, context 300,
        # caches of 372 and 2048 slots, batch 1 and 16, BF16 and FP8) it beat the second launch in all 8 cases,
        # e.g. FP8 batch 1: 9.0 vs 11.5 us a layer, BF16 batch 16: 11.7 vs 12.8
        combine_in_kernel = True
    splits, chunk, combine_in_kernel = attention_plan(
        b * hkv,
        length,
        k_scale is not None,
        target_programs=target_programs,
        max_splits=max_splits,
        combine_in_kernel=combine_in_kernel,
        block_l=block_l,
    )
    num_warps = num_warps or ATTN_WARPS
    num_stages = num_stages or (attention_stages(chunk, block_l) if rope is not None else 1)
    q3 = q.reshape(b, hq, d) if rope is None else q.reshape(b, hq * d)
    out = torch.empty((b, hq, d), dtype=q.dtype, device=q.device)
    # partials and counters: placeholders of the same dtypes with one split (one compiled variant)
    stored = splits > 1 or partials_out
    part_acc = torch.empty((b * hkv, splits, g_pad, d) if stored else (1,), dtype=torch.float32, device=q.device)
    part_ml = torch.empty((2, b * hkv, splits, g_pad) if stored else (1,), dtype=torch.float32, device=q.device)
    if partials_out:  # the splits each head ran, for the consumer
        counters = torch.empty(b * hkv, dtype=torch.int32, device=q.device)
    else:
        counters = head_counters(q.device, b * hkv)
    valid = key_valid.view(torch.uint8) if key_valid.dtype == torch.bool else key_valid
    tables = rope[4] if rope is not None else []
    cache_args, flags = kernel_args(k, v, k_scale, v_scale, tables)
    k_new, v_new, cos, sin, _, slot, token_type = rope if rope is not None else (q3,) * 4 + (None, valid, valid)
    decode_attention_kernel[(b * hkv, splits)](
        q3,
        q3.stride(0),
        d if rope is not None else q3.stride(1),
        cache_args,
        valid,
        valid.stride(0),
        out,
        part_acc,
        part_ml,
        counters,
        length,
        chunk,
        max_splits or 0,  # with rope, the kernel plans its splits over the step's context (0: the rule's cap)
        d**-0.5,
        k_new,
        v_new,
        k_new.stride(0),
        v_new.stride(0),
        cos,
        sin,
        cos.stride(0),
        slot,
        token_type,
        token_type.stride(0),
        **heads,
        BLOCK_L=block_l,
        **flags,
        FUSE_ROPE=rope is not None,
        COMBINE_IN_KERNEL=combine_in_kernel,
        PREFETCH=prefetch_blocks,
        COMBINE_FORM=combine_form,
        HW_ROUNDING=rounding == 1,
        PARTIALS_OUT=partials_out,
        **trace_args(q.device, trace),
        num_warps=num_warps,
        num_stages=num_stages,
        **launch_pdl(q.device, pdl, "attention"),
    )
    if partials_out:
        return AttentionPartials(part_acc, part_ml, counters, hkv, groups, g_pad, splits, d)
    if splits > 1 and not combine_in_kernel:
        combine_kernel[(b * hkv,)](
            part_acc,
            part_ml,
            out,
            splits,
            max_splits or 0,
            slot,
            **heads,
            BLOCK_L=block_l,
            FUSE_ROPE=rope is not None,
            COMBINE_FORM=combine_form,
            num_warps=4,
        )
    return out.view(b, hq, 1, d)


def trace_args(device: torch.device, trace: bool) -> dict:
    """The kernel's trace arguments: the ring and its counter where ``trace``, none otherwise (one compiled variant)."""
    if not trace:
        return {}
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise VlmqError(f"{ATTENTION_TRACE_ENV}=1 reads the GPU's timers, which Triton's interpreter lacks; unset it")
    records, count = attention_trace_buffers(device)
    return {
        "trace_ptr": records,
        "trace_count_ptr": count,
        "TRACE": True,
        "TRACE_RECORDS": TRACE_RECORDS,
        "TRACE_WIDTH": TRACE_WIDTH,
    }


decode_attention.register_kernel("cuda", launch_decode_attention)
