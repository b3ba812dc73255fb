"""Decode-time linear kernels (Triton): one weight pass at close to HBM bandwidth, prologue and epilogue fused.

``y = act(norm(x) @ dequant(W)^T * scales + bias) + residual`` for M <= 64 rows, over weights in any of
vlmq's formats, read as they are stored (no repacking; q/k/v and gate/up are concatenated at load):

- ``W_FLOAT`` bf16 / fp16 / fp32 [N, K]; ``W_INT8`` int8 [N, K] and ``W_FP8`` e4m3 [N, K] with a per-row
  fp32 scale; ``W_INT4`` packed int4 [N, K // 8] int32 in the compressed-tensors layout of ``w4`` with
  group scales [N, K // G] and optional integer zero points (w4's docstring).
- activations float (W8A16 / W4A16 / BF16), or int8 / FP8 per token (W8A8): either already quantized
  (``x_scale`` given) or quantized from the (normalized) float rows: in the CUDA-core kernel's prologue, or
  by ``normalize_rows`` before the tensor-core kernel.

Two kernels:

- ``sum`` (M <= 4; not FP8 weights, nor int8 weights with K >= 3072: ``default_config``): CUDA cores. Each
  program owns ``BN`` rows and a K slice, keeps an fp32 product tile and reduces once at the end
  (``tl.sum``), so no tensor-core tile is wasted on 15 empty rows. Weights
  are widened with exponent tricks instead of int->float conversions, which Hopper issues at a quarter
  of the integer rate (16 per clock per SM, below the 31 nibbles per clock that 4 TB/s of int4 needs):
  an int4 nibble ``v`` becomes the float ``1 + v / 16`` by one shift and one and-or into the bits of
  1.0, so ``sum((v - 8 - z) x) = 16 sum(f x) - (24 + z) sum(x)`` per group.
- ``dot`` (5 <= M, the rest of M <= 4, and the Triton prefill GEMM): ``tl.dot`` tiles, weights dequantized in
  registers (int4 unpacked to column order by three ``tl.join``), int8 x int8 and e4m3 x e4m3 products
  on the tensor cores for W8A8. A tile may run swapped (``swap``: weights x activations^T, so 64 weight rows
  fill a Hopper warpgroup MMA; H200: faster for bf16 and FP8 on most shapes, slower for int8 weights) and, for
  int4, with the group scales on the sums (``post``); at one row a measured swapped tile may beat the CUDA cores
  (``measured_tiles``' ``dot_m1``: FP8 W8A8 gate_up of both presets and the 7b down; the bf16 ones give way
  to the CUDA-core tile, which fuses the RMSNorm: ``gemv_config``). docs/benchmarks.md has the figures. An int4
  tile may also run in fragment order (``frag``): K permuted within each tile (the activations gathered to match)
  so that each lane loads the words of its own MMA fragment and unpacks them in place, as bf16 pairs, instead of
  converting the column-order tile's layout through shared memory (``gemv_triton.frag_permuted``).

A third, for int4 weights where it is built and measured faster (``measured_mma``): ``mma``, vlmq's CUDA kernel
``cutlass/w4_gemv.cu`` (``cutlass_gemm.w4_gemv``): sixteen weight rows a tensor-core MMA at any M <= 16, the
nibbles widened to bf16 pairs by LOP3s into the bits of 128.0, the bias, SiLU·mul and residual in its epilogue
(the RMSNorm by ``normalize_rows`` first). Why: the CUDA-core kernel issues ~4 instructions a weight and is bound
by issuing them on the 7b (eighteenth session's Nsight profile); the MMA form's loop issues ~2.9 a weight and is
latency-bound instead (twenty-eighth session: faster on five shapes, slower on the 7b's one-row ones; no entry shipped).

Split K: when ``N / BN`` programs are too few for 132 SMs, programs also split K; each writes an fp32
partial, counts itself in on a per-tile semaphore, and the last to arrive sums the partials and runs
the epilogue (one launch, no reduce kernel, no memset: it resets the semaphore for the next launch).
The semaphores are one zeroed buffer per device, so launches must be stream-ordered (they are: one
stream, also inside CUDA graphs).

Fusions for a decoder layer in a handful of kernels (issue 17): a row prologue -- ``NORM`` (RMSNorm of the
input row, rounded as Qwen2RMSNorm rounds), ``SMOOTH`` (SmoothQuant's pre-scale) and, for W8A8, the per-token
quantization, rounded as ``fused.fused_linear_reference`` rounds -- in the ``sum`` kernel: each program reads
its 1-4 rows for their statistics (sum of squares, then the absolute maximum after norm and pre-scale), a few
KB from L2, instead of a launch of its own -- for W8A8 only where the grid is small (``row_kernel_first``: each
program quantizes the whole row again, which costs more than the launch on large grids), and for the RMSNorm
alone except before 8- and 4-bit weights at the 7b's K (two serial passes over the row before the first weight:
``NORM_FIRST_MIN_K``); ``ACT`` (SiLU(gate) * up
on rows interleaved gate0, up0, gate1, up1, ... so one program owns both halves of an output; see
``interleave_rows``), ``RESID`` (residual add in the epilogue). For the
``dot`` kernel (5+ rows) the prologue runs first in ``normalize_rows``, one program per row, the same
arithmetic: in every program of a tensor-core grid the rows' statistics would cost a serial pass over 16+
rows (H200: 2b down_proj W8A8 at M = 16 took 46 us fused vs 10 us plain). The RMSNorm alone measured so too
(eighth session, M = 16, bf16 / int8 / int4 weights, us with the norm in the tensor-core prologue vs
``normalize_rows`` first: 2b qkv 9.9 / 15.0 / 9.1 vs 6.7 / 7.0 / 7.3, 2b gate_up 32.2 / 35.9 / 23.3 vs 18.2 /
13.8 / 13.7, 7b gate_up 108.6 / 73.9 / 86.1 vs 71.4 / 43.0 / 38.7; the 2b batch-16 step 2.12 vs 1.63 ms/token).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import NamedTuple

import torch

from vlmq.engine.kernels.cutlass_gemm import W4GemvConfig, w4_gemv, w4_gemv_configs, w4_gemv_fits
from vlmq.engine.kernels.pdl import PDL_FORMATS, gemv_projection, launch_pdl
from vlmq.errors import VlmqError

W_FLOAT, W_INT8, W_FP8, W_INT4 = 0, 1, 2, 3
A_FLOAT, A_INT8, A_FP8 = 0, 1, 2
ACT_NONE, ACT_SILU_MUL = 0, 1
SUM_MAX_M = 4  # rows up to which the CUDA-core kernel runs; beyond, tensor-core tiles
INT8_TENSOR_CORE_MIN_K = 3072  # int8 weights at K >= this take the tensor cores at every M (default_config)
GEMV_MAX_M = 64  # rows up to which the decode kernels run; beyond, the prefill paths (prefill.py)
TARGET_PROGRAMS = 4 * 132
SEMAPHORES = 1 << 16  # split-K tile counters per device
PLANE_MAGIC = {W_INT4: 0x41800000, W_INT8: 0x41C00000}  # bits of 16.0 (| 1 << 22): gemv_triton's planes
# W8A8 rows quantized in the CUDA-core GEMV's prologue vs by normalize_rows first, H200 (bench_kernels.py, M = 1,
# int8 / fp8 W8A8 from float rows with the layer's fusions, us a call): 2b qkv (512 programs x K 1536) 5.8 -> 5.5 /
# 6.7 -> 6.1, 2b o (384 x 1536) 4.7 -> 4.3 / 5.8 -> 4.9; but 2b gate_up (2240 x 1536) 13.0 -> 15.9, 2b down
# (384 x 8960) 10.2 -> 13.1, 7b o (896 x 3584) 8.5 -> 10.1, 7b qkv (1152 x 3584) 10.3 -> 14.4: every program
# quantizes the whole row again, so the prologue pays only where programs x K is small.
ROW_PROLOGUE_MAX_WORK = 1 << 20
# A float row's RMSNorm in normalize_rows first vs the CUDA-core prologue, H200 (ninth session, bench_kernels.py
# variants vlmq-normfirst / vlmq-prologue, M = 1, us a call with the norm and SiLU·mul): each program computes
# its rows' statistics in passes of 2048 values before its first weight, which the 8- and 4-bit kernels, streaming
# fewer bytes a row, do not hide at the 7b's K = 3584: gate_up int8 50.7 -> 42.4, int4 42.0 -> 35.2; qkv 10.3 ->
# 9.6, 10.8 -> 8.6. At the 2b's K = 1536 the prologue wins (qkv 4.2 -> 5.2, 4.3 -> 4.9), and bf16 barely moves.
NORM_FIRST_MIN_K = 2048
# In whole 2b steps (thirty-first session, bench_decode_ab.py --env VLMQ_NORM_FIRST, batch 1): gate/up's norm first
# 1.006x int8_wo, 0.999x int4_wo; q/k/v's and gate/up's 1.035x / 1.026x -- the rule stood. Since the int4 q/k/v's
# early trigger (forty-sixth / forty-seventh sessions, same method, 3 and 5 rounds) int4 gate/up's norm first is
# faster on the 2b: int4_wo 0.994x twice (0.853 -> 0.848 ms/token), int4_awq 0.997x, so the rule adds it at any K
# (``NORM_FIRST_ALWAYS``); q/k/v's with it 1.039x.
# Where the deferred RMSNorm applies by default (``NORM_DEFER_MEASURED``: since the forty-ninth session the 2b int4
# gate/up's), it takes the place of this rule.
NORM_FIRST_ALWAYS = frozenset({("gate_up", W_INT4)})  # (projection, weight format) whose RMSNorm runs first
# An A/B's override of that rule per projection (read where a GEMV is launched or captured, as the PDL trigger is):
# ``measured`` (the default: the rule above), ``none`` (every int8 / int4 RMSNorm in the prologue) or the projections
# whose RMSNorm runs first (``qkv``, ``gate_up``; the others in the prologue). It moves the plain RMSNorm before
# int8 / int4 weights, where the rule applies (not the BF16 lm_head's), and the RMSNorm and quantization of W8A8 rows
# before int8 / FP8 weights on the CUDA cores (``ROW_PROLOGUE_MAX_WORK``'s rule).
NORM_FIRST_ENV = "VLMQ_NORM_FIRST"
# The RMSNorm deferred in the CUDA-core kernel (``gemv_triton.cuda_core_sums``' NORM 2): the float rows of a one-slice
# launch enter the sums as x * g, the squares of the values loaded for them gather per lane, and the sums are
# multiplied by the rows' rsqrt(mean(x^2) + eps) after the K loop -- so no program reads its rows for their statistics
# before its first tile (the prologue's pass). Why: that pass is ~1 us of a 2b one-row GEMV's latency (H200 per-step
# profiles, batch 1: int4 gate/up adds 9.33 us to the step with its statistics in the prologue, forty-sixth session,
# and 8.22 + 1.17 for normalize_rows with its RMSNorm first, forty-eighth), in every q/k/v, gate/up and lm_head on the
# CUDA cores. Not Qwen2RMSNorm's rounding: the normalized row is never rounded to the rows' dtype before the weight, so
# outputs differ from the eager module's by that rounding (bf16: ~2^-9 of an activation). sm_90 SASS of the 2b tiles
# as shipped, instructions / global loads, prologue -> deferred: int4 gate/up 952 / 34 -> 840 / 28, bf16 q/k/v 520 /
# 30 -> 440 / 27. Where it runs by default (``NORM_DEFER_MEASURED``): the (projection, weight format) pairs whose whole
# decode step it made faster at that side of ``NORM_FIRST_MIN_K`` (H200, forty-ninth session, bench_decode_ab.py
# --env VLMQ_NORM_DEFER, batch 1, 3 rounds: docs/benchmarks.md); ``$VLMQ_NORM_DEFER`` overrides it for an A/B:
# ``measured`` (the default), ``none`` or the projections (``pdl.gemv_projection``'s names) whose RMSNorm it defers.
NORM_DEFER_ENV = "VLMQ_NORM_DEFER"
NORM_PROJECTIONS = ("qkv", "gate_up")
NORM_DEFER_PROJECTIONS = (*NORM_PROJECTIONS, "lm_head")  # the lm_head's RMSNorm (the model's last) too
# (projection, weight format, K above NORM_FIRST_MIN_K) whose RMSNorm the measured rule defers. x the step with none
# deferred (H200, forty-ninth session's call 1, batch 1): 2b (K 1536) bf16 q/k/v 0.992 (gate/up 1.026: not), int8
# gate/up 0.986 (q/k/v 1.003: not), int4 q/k/v 0.994 and gate/up 0.982 (with the lm_head's, all three, 0.980; int8
# 0.984); 7b (K 3584, whose int8 / int4 norms run first) int4 all three 0.986, int8 1.007: not yet split
NORM_DEFER_MEASURED = frozenset(
    {("qkv", "bf16", False), ("gate_up", "int8", False), ("qkv", "int4", False), ("gate_up", "int4", False)}
)
# normalize_rows' rows stored in the K order of the swapped fragment-order int4 tile that reads them (q/k/v and gate/up
# at 9-16 rows: their RMSNorm runs first), so the tile skips its per-K-tile activation permute through shared memory:
# 3-14 % of the 16-row tile's time alone (H200, fortieth session's call 6, bench_kernels.py vlmq-xfrag: 7b gate/up
# 36.5 -> 33.8 us, 2b 11.7 -> 10.1). ``1`` (the default) on, ``0`` off for an A/B: in the decode step on (H200,
# forty-first session's call 1, bench_decode_ab.py --env VLMQ_FRAG_ROWS --variants '0;1', batch 16, five rounds) 7b
# int4_wo 2.928 -> 2.877 ms/token, int4_awq 2.924 -> 2.879; 2b 1.302 -> 1.282, 1.303 -> 1.297.
FRAG_ROWS_ENV = "VLMQ_FRAG_ROWS"
# The staged one-row tiles (``sum_config(stages > 1)``: the software pipeliner's cp.async loads) read no weight before
# their PDL wait, where the unstaged ones load their first K tile into registers ahead of it (cuda_core_sums). With
# "l2" they prefetch the lines of their first ``stages - 1`` K tiles into L2 ahead of the wait instead
# (gemv_triton.prefetch_l2), so that the weight stream starts while the previous kernel ends; "off" (the default:
# whole steps measured slower with "l2", forty-seventh session, bench_decode_ab.py, batch 1 -- 2b int8_wo 1.032x,
# smoothquant 1.024x, bf16 1.021x, 7b int8_wo 1.039x, bf16 1.000x; kept as an A/B's arm).
PREFETCH_ENV = "VLMQ_GEMV_PREFETCH"
PREFETCH_SETTINGS = ("off", "l2")
# The one-row CUDA-core tiles' loads in the K loop: with the row and K masks of a ragged tile everywhere ("0") or,
# where the tile and its K loop are whole, unmasked ("1": the activations, the norm weight and pre-scale and the int4
# group scales and zero points -- every index is in range; each masked load costs its zero fill and predicates, sm_90
# SASS in benchmarks/results/cpu-gemv-unmasked-sass-2026-12-05), or by the weight format ("measured", the default:
# ``UNMASKED_MEASURED``). H200, fifty-first session, 2b batch-1 steps, one-process A/Bs 0 -> 1: int4_wo 0.978x /
# 0.974x, int4_awq 0.975x, 7b int4_wo 0.999x; int8_wo 1.005x / 1.007x, bf16 0.996x (level).
UNMASKED_ENV = "VLMQ_GEMV_UNMASKED"
UNMASKED_SETTINGS = ("measured", "0", "1")
UNMASKED_MEASURED = frozenset({W_INT4})
LINE_BYTES = 128  # an L2 line


# Tiles measured best per shape (the qwen2-vl-2b and -7b projections) on the H200: ``bench_kernels.py --sweep``
# times every candidate in CUDA graphs with weights from HBM, and ``bench_kernels.py --write-tiles`` keeps the best
# per (weight format, N, K) in this file, with its time and the rule-based default's (docs/benchmarks.md).
TILES_FILE = Path(__file__).with_name("tiles") / "h200.json"
# Another table in the same form, read where a call resolves its tile (so bench_decode_ab.py can A/B two tables in
# one process: each decode step captured again under each); records name it (provenance's VLMQ_* variables).
TILES_ENV = "VLMQ_TILES"
FORMAT_NAMES = dict(zip(PDL_FORMATS, (W_FLOAT, W_INT8, W_FP8, W_INT4), strict=True))  # the names pdl knows them by
WORD_VALUES = {W_INT4: 8, W_INT8: 4}  # weights an int32 word packs, for the formats the CUDA cores read as words


def tiles_file() -> Path:
    """The tile table calls read: ``$VLMQ_TILES`` where set, else the shipped ``TILES_FILE``."""
    return Path(os.environ.get(TILES_ENV) or TILES_FILE)


def tile_table() -> dict:
    """The measured tile table (``tiles_file()``) as written by benchmarks/bench_kernels.py --write-tiles."""
    return read_tile_table(tiles_file())


@functools.cache
def read_tile_table(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise VlmqError(
            f"cannot read the tile table {path} ({type(err).__name__}): point ${TILES_ENV} at a file "
            "bench_kernels.py --write-tiles wrote, or unset it for the shipped table"
        ) from None


# A table entry's ``activations`` (absent: the tile of every activation mode of its weight format): a W8A8 int8 tile
# measured for rows quantized to int8 (smoothquant), kept beside the weight-only int8 tile of the shape -- in the
# form the engine runs them the two differ by 1.5-1.7x in instructions a weight value on the same tile (forty-ninth
# session, sm_90 SASS: benchmarks/results/cpu-w8a8-int8-tiles-sass-2026-12-04). FP8 tiles are W8A8 already.
TILE_ACTIVATIONS = {"int8": A_INT8}


def measured_tiles() -> tuple[dict, dict, dict]:
    """({(format, N, K): (rows, warps, vec, split, pipe, stages, maxnreg)} for the CUDA-core kernel at one row,
    {(format, N, K): (block_n, block_k, split, stages, swap, post, warps, frag)} for the tensor-core kernel at 9-16
    rows, and the same for the shapes where a tensor-core tile beat the CUDA cores at one row); an entry measured for
    one activation mode (``TILE_ACTIVATIONS``) is keyed (format, N, K, a_mode): ``table_key``."""
    return tiles_of(tiles_file())


def tile_key(entry: dict) -> tuple:
    """A tile table entry's key in ``measured_tiles``' dicts."""
    key = (FORMAT_NAMES[entry["format"]], entry["n"], entry["k"])
    if "activations" not in entry:
        return key
    if entry["activations"] not in TILE_ACTIVATIONS:
        raise VlmqError(
            f"tile table entry {entry.get('shape', key)} ({entry['format']}): activations {entry['activations']!r} "
            f"is none of {', '.join(TILE_ACTIVATIONS)}; write the table with bench_kernels.py --write-tiles"
        )
    return (*key, TILE_ACTIVATIONS[entry["activations"]])


def table_key(tables: tuple[dict, ...], fmt: int, n: int, k: int, a_mode: int = A_FLOAT) -> tuple:
    """The key of a call's tiles in ``tables`` (of ``measured_tiles``' dicts, those one choice reads together): its
    activation mode's where any of them holds a tile measured for it -- then only those: a W8A8 sweep that kept a
    CUDA-core tile found no faster tensor-core one -- else its weight format's."""
    own = (fmt, n, k, a_mode)
    return own if any(own in table for table in tables) else (fmt, n, k)


@functools.cache
def tiles_of(path: Path) -> tuple[dict, dict, dict]:
    data = read_tile_table(path)
    sum_m1 = {
        tile_key(t): (
            *(t["rows"], t["warps"], t["vec"], t["split"], t["pipe"]),
            t.get("stages", 1),  # tables written before stages ran one stage
            t.get("maxnreg", 0),  # and without a register cap
        )
        for t in data["sum_m1"]
    }
    dot_m16, dot_m1 = (
        {
            tile_key(t): (
                *(t["block_n"], t["block_k"], t["split"], t["stages"]),
                *(t.get("swap", False), t.get("post", False), t.get("warps", 4), t.get("frag", False)),
            )
            for t in data.get(table, [])
        }
        for table in ("dot_m16", "dot_m1")
    )
    return sum_m1, dot_m16, dot_m1


class MixedTile(NamedTuple):
    """A tile of the prefill GEMM of ``mixed_gemm_triton`` (``prefill.mixed_linear``)."""

    block_m: int
    block_n: int
    block_k: int
    warps: int
    stages: int
    swap: bool  # the weights as the MMA's left operand
    tma: bool = False  # tiles loaded by the tensor memory accelerator (a GPU only)


class CutlassTile(NamedTuple):
    """A tile of CUTLASS's mixed-input weight-only GEMM (``cutlass_gemm``; its index in the built library)."""

    index: int


def measured_prefill() -> dict:
    """{(sweep mode, N, K): [(M, tile or None)]} from the tile table's ``prefill`` entries: per prefill shape the
    GEMM that beat the library path at M rows -- a ``CutlassTile`` where a weight-only entry has one (``cutlass``:
    bench_prefill_gemm.py --write-tiles, where CUTLASS's mixed-input GEMM beat dequantize-then-cuBLAS and the
    generic tile), a ``MixedTile`` of the prefill GEMM where an entry has one (``mixed``: the same script, where it
    beat the library path and the generic tile), else the generic kernel's (block_n, block_k, stages, swap, warps,
    block_m, split) -- or None where the library path won (benchmarks/bench_kernels.py --sweep --rows 300, then
    --write-tiles). Entries swept before block_m and split were measured ran 128 rows, one K slice."""
    return prefill_tiles_of(tiles_file())


@functools.cache
def prefill_tiles_of(path: Path) -> dict:
    out: dict = {}
    for t in read_tile_table(path).get("prefill", []):
        if t.get("cutlass") is not None:
            tile = CutlassTile(t["cutlass"]["tile"])
        elif t.get("mixed") is not None:
            tile = MixedTile(*t["mixed"]["tile"])
        else:
            tile = generic_prefill_tile(t)
        out.setdefault((t["mode"], t["n"], t["k"]), []).append((t["m"], tile))
    return out


def generic_prefill_tile(entry: dict) -> tuple | None:
    """A tile table prefill entry's tile of the generic kernel: (block_n, block_k, stages, swap, warps, block_m,
    split), or None where the library path won."""
    t = entry["tile"]
    if t is None:
        return None
    return tuple(t[key] for key in ("block_n", "block_k", "stages", "swap", "warps")) + (
        t.get("block_m", 128),
        t.get("split", 1),
    )


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class GemvConfig(NamedTuple):
    """Tile and launch shape of one call. ``block_k``: columns per K iteration; for the ``sum`` kernel it is
    ``256 * vec * num_warps`` (gemv_triton's docstring says why); ``vec``: int4 words per lane (1, 2, 4)."""

    kernel: str  # "sum" (CUDA cores, M <= 4), "dot" (tensor cores) or "mma" (int4: cutlass/w4_gemv.cu, M <= 16)
    block_m: int
    block_n: int
    block_k: int
    split_k: int
    num_warps: int
    num_stages: int
    vec: int = 1
    pipe: bool = False  # sum kernel: load the next K tile before using the current one (double buffer)
    swap: bool = False  # dot kernel: weights x activations^T (the weight tile is the MMA's M side)
    post: bool = False  # dot kernel, int4: codes on the tensor cores, group scale and zero on the sums
    frag: bool = False  # dot kernel, int4: K tile in MMA fragment order, unpacked in place (no shared-memory shuffle)
    maxnreg: int = 0  # sum kernel: registers a thread may hold (ptxas spills or reschedules beyond); 0: no cap


MMA_ENV = "VLMQ_W4_MMA"  # "off", or "row_blocks,warps,in_flight,post" for every int4 decode call it takes


def mma_config(tile: W4GemvConfig, m: int, split: int = 1) -> GemvConfig:
    """The ``GemvConfig`` of the int4 tensor-core GEMV's configuration ``tile`` for ``m`` rows, K over ``split`` CTAs
    a row block."""
    return GemvConfig(
        "mma",
        8 if m <= 8 else 16,
        16 * tile.row_blocks,
        128,
        split,
        tile.warps,
        tile.in_flight,
        post=tile.post,
    )


def mma_tile(cfg: GemvConfig) -> W4GemvConfig:
    return W4GemvConfig(cfg.block_n // 16, cfg.num_warps, cfg.num_stages, cfg.post)


def measured_mma() -> dict:
    """{(N, K, 1 or 16): (W4GemvConfig, K split)} from the tile table's ``w4_mma`` entries: where the int4
    tensor-core GEMV beat the CUDA-core / Triton tensor-core kernel's measured tile on the H200 (``m`` 1: calls of up
    to 8 rows, 16: 9-16 rows)."""
    return mma_tiles_of(tiles_file())


@functools.cache
def mma_tiles_of(path: Path) -> dict:
    return {
        (t["n"], t["k"], t["m"]): (
            W4GemvConfig(t["row_blocks"], t["warps"], t["in_flight"], t["post"]),
            t.get("split", 1),
        )
        for t in read_tile_table(path).get("w4_mma", [])
    }


def mma_setting() -> W4GemvConfig | str | None:
    """``$VLMQ_W4_MMA``: None (unset: the tile table decides), "off", or the configuration every int4 decode call
    that it takes runs (an A/B's or an end-to-end test's)."""
    value = os.environ.get(MMA_ENV, "").strip()
    if value in ("", "off"):
        return value or None
    return parse_mma_config(value, MMA_ENV)


def parse_mma_config(value: str, source: str) -> W4GemvConfig:
    """ "row_blocks,warps,in_flight,post" as a configuration the library builds (any, where it is not built here);
    otherwise a one-line VlmqError naming ``source`` (where the value came from) and the built configurations."""
    try:
        rb, nw, pf, post = (int(v) for v in value.split(","))
        tile = W4GemvConfig(rb, nw, pf, bool(post))
    except ValueError:
        tile = None
    configs = w4_gemv_configs()
    if tile is None or (configs and tile not in configs):
        built = ", ".join(",".join(str(int(v)) for v in c) for c in configs) or "none: build the CUTLASS library"
        off = "off or " if source == MMA_ENV else ""
        raise VlmqError(f"{source}={value!r}: use {off}row_blocks,warps,in_flight,post of a built one ({built})")
    return tile


@functools.cache
def mma_runs(device: torch.device) -> bool:
    """Whether the int4 tensor-core GEMV runs on ``device``: a Hopper GPU with the library built."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) == (9, 0) and bool(w4_gemv_configs())


def mma_choice(x, weight, scale, zero, group_size: int, out_dtype, n: int, k: int) -> GemvConfig | None:
    """The int4 tensor-core GEMV's config for a call of float rows, or None: ``$VLMQ_W4_MMA``'s, else the tile
    table's (``measured_mma``), where it runs here and takes the call (``w4_gemv_fits``)."""
    m = x.shape[0]
    setting = mma_setting()
    if setting == "off" or out_dtype != torch.bfloat16 or not x.is_cuda or not mma_runs(x.device):
        return None
    tile, split = (setting, 1) if setting is not None else measured_mma().get((n, k, 1 if m <= 8 else 16), (None, 1))
    if tile is None or not w4_gemv_fits(x, weight, scale, zero, group_size, tile):
        return None
    return mma_config(tile, m, split)


def weight_format(weight: torch.Tensor) -> int:
    if weight.dtype == torch.int32:
        return W_INT4
    if weight.dtype == torch.int8:
        return W_INT8
    if weight.dtype == torch.float8_e4m3fn:
        return W_FP8
    if weight.dtype in (torch.bfloat16, torch.float16, torch.float32):
        return W_FLOAT
    raise TypeError(f"no GEMV for {weight.dtype} weights")


def weight_bytes(weight: torch.Tensor, scale: torch.Tensor | None, zero: torch.Tensor | None) -> int:
    return sum(t.numel() * t.element_size() for t in (weight, scale, zero) if t is not None)


def split_for(programs: int, k: int, block_k: int) -> int:
    """K slices so that ``programs * split`` fills the SMs a few times over (each slice >= 2 iterations)."""
    return max(1, min(-(-TARGET_PROGRAMS // programs), k // (2 * block_k), 16))


def sum_config(
    fmt: int,
    m: int,
    n: int,
    k: int,
    *,
    rows: int | None = None,
    warps: int = 1,
    vec: int = 2,
    split: int | None = None,
    stages: int = 1,
    maxnreg: int = 0,
) -> GemvConfig:
    """CUDA-core tile: ``rows`` weight rows per program (default 16 for one activation row, fewer for more:
    each row keeps its own accumulators, and 4 x 16 spill registers); a warp's lanes along K, 8 activation
    values each (int8 / int4: ``vec`` int32 words of weights per lane), so ``block_k`` follows from the format.
    ``stages`` > 1: the K loop's weight tiles through Triton's software pipeliner, ``stages - 1`` ahead in shared
    memory (gemv_triton.cuda_core_sums). ``maxnreg``: a register cap for the compiler (0: none): the fused forms
    hold far more registers than the plain ones (sm_90, Triton 3.6: 2b int8 gate/up with its RMSNorm 167 against
    72), so fewer programs fit an SM; capped at 128 it compiles without spills (``benchmarks/results/
    cpu-gemv-maxnreg-2026-12-01``). The one-row sweep times caps on the table's tiles."""
    block_m = 1 << max(0, (m - 1).bit_length())
    rows = rows or max(4, 16 // block_m)
    per_word = WORD_VALUES.get(fmt)
    if per_word is None:
        vec, block_k = 1, 256 * warps
    else:
        block_k = per_word * vec * 32 * warps
    split = split or split_for(-(-n // rows), k, block_k)
    return GemvConfig("sum", block_m, rows, block_k, split, warps, stages, vec, maxnreg=maxnreg)


def dot_config(
    fmt: int,
    m: int,
    n: int,
    k: int,
    group_size: int = 0,
    *,
    block_n: int = 64,
    block_k: int = 128,
    warps: int = 4,
    stages: int = 3,
    split: int | None = None,
    swap: bool = False,
    post: bool = False,
    frag: bool = False,
    block_m: int | None = None,
) -> GemvConfig:
    """Tensor-core tile: 16-64 activation rows (one M tile for decode), or GEMM tiles for larger M (128 rows,
    unless ``block_m`` says: a measured prefill tile may take 64). ``swap``, ``post``, ``frag``:
    gemv_triton.tensor_core_sums (``post`` and ``frag`` for int4 weights only, where they are ignored otherwise;
    ``frag`` needs a tile that ``frag_fits``). ``split``: K slices (default: enough programs for the SMs at decode,
    none for GEMM tiles)."""
    if block_m is None:
        block_m = min(max(16, 1 << max(0, (m - 1).bit_length())), 128)
        if block_m > 64:
            block_n, warps = max(block_n, 128), max(warps, 8)
    elif block_m not in (16, 32, 64, 128):
        raise VlmqError(
            f"a tensor-core tile takes block_m 16, 32, 64 or 128 activation rows (got {block_m}): "
            "fix the tile (or the measured-tile table's entry)"
        )
    if fmt == W_INT4:
        block_k = int4_block_k(block_k, group_size, k, frag, post)
    if frag and fmt == W_INT4 and not frag_fits(block_n, block_k, warps, swap):
        raise VlmqError(
            f"the int4 fragment-order tile needs block_n a multiple of {8 * (2 if swap else 1) * warps} "
            f"(8 rows x {'2 x ' if swap else ''}{warps} warps) and block_k a multiple of 32 (got {block_n}, "
            f"{block_k}): pick such a tile or frag=False"
        )
    programs = -(-n // block_n) * -(-m // block_m)
    split = split or (split_for(programs, k, block_k) if m <= GEMV_MAX_M else 1)
    return GemvConfig(
        "dot",
        block_m,
        block_n,
        block_k,
        split,
        warps,
        stages,
        swap=swap,
        post=post and fmt == W_INT4,
        frag=frag and fmt == W_INT4,
    )


def int4_block_k(block_k: int, group_size: int, k: int, frag: bool, post: bool) -> int:
    """The K tile an int4 tensor-core tile runs: one group, except a fragment-order tile that applies the scales
    in registers (not ``post``: its sums span the groups), which may span two or four whole groups where they
    divide K -- more weight bytes a program an iteration (a 64 x 128 int4 tile is 4 KB where int8's 64 x 256
    is 16 KB; ``gemv_triton.frag_group_values``)."""
    if (
        frag
        and not post
        and group_size
        and block_k // group_size in (2, 4)
        and block_k % group_size == 0
        and k % block_k == 0
    ):
        return block_k
    return min(block_k, group_size)


def frag_fits(block_n: int, block_k: int, warps: int, swap: bool) -> bool:
    """Whether an int4 tile can run in fragment order (``gemv_triton.int4_frag_words``): each warp's MMA rows
    (16 for wgmma, ``swap``; 8 for mma.sync) a whole number of times in ``block_n``, whole int32 words per lane."""
    return block_n % (8 * (2 if swap else 1) * warps) == 0 and block_k % 32 == 0


def default_config(
    fmt: int, m: int, n: int, k: int, group_size: int = 0, *, cuda_cores: bool = False, a_mode: int = A_FLOAT
) -> GemvConfig:
    """The tile a call gets without an explicit config. benchmarks/bench_kernels.py --sweep measures others.

    First the tile measured best for the shape (``measured_tiles``): at one row the CUDA-core kernel (every
    format: FP8, and int8's long-K shapes too, where their measured tiles beat the tensor cores) unless a swapped
    tensor-core tile measured faster (``dot_m1``; not with ``cuda_cores``: ``gemv_config``), at 9-16 rows
    tensor-core tiles. Otherwise: one row on CUDA cores; 2-4 rows on CUDA cores, except where the tensor-core one (whose
    16-row tile costs the same at M = 1 as at 16) measured faster on the H200 (bench_kernels.py, call 3, us at
    M = 1 on CUDA cores vs M = 16 on tensor cores):
    - FP8 weights: e4m3 x e4m3 MMAs (W8A8) need no conversion and e4m3 -> bf16 (W8A16) costs the MMA tile
      less than e4m3 -> fp32 costs the CUDA cores: 2b gate_up W8A8 16.9 vs 12.1 (the 16-row fp8 MMA GEMV of
      baseline_w8_gemv.py: 10.8 at M = 1), W8A16 17.5 vs 16.0; 7b down W8A16 35.0 vs 31.9;
    - int8 weights with K >= 3072 (every 7b shape, 2b down_proj): 7b gate_up W8A16 49.3 vs 42.2, down 31.6 vs
      25.5, qkv 11.7 vs 10.4; W8A8 48.1 vs 37.6 and 31.9 vs 24.8; 2b down 10.5 vs 10.2. At K = 1536 the CUDA
      cores win (2b gate_up W8A16 12.2 vs 13.7, qkv 6.0 vs 6.3)."""
    sum_m1, dot_m16, dot_m1 = measured_tiles() if group_size in (0, 128) else ({}, {}, {})
    one_row_key = table_key((sum_m1, dot_m1), fmt, n, k, a_mode)
    tuned = one_row = None
    if m == 1:
        tuned, one_row = None if cuda_cores else dot_m1.get(one_row_key), sum_m1.get(one_row_key)
    elif 8 < m <= 16:
        tuned = dot_m16.get(table_key((dot_m16,), fmt, n, k, a_mode))
    if not tuned and one_row:
        rows, warps, vec, split, pipe, stages, maxnreg = one_row
        tile = dict(rows=rows, warps=warps, vec=vec, split=split, stages=stages, maxnreg=maxnreg)
        return sum_config(fmt, m, n, k, **tile)._replace(pipe=pipe)
    if tuned:
        block_n, block_k, split, stages, swap, post, warps, frag = tuned
        tile = dict(block_n=block_n, block_k=block_k, stages=stages, split=split, swap=swap, post=post, warps=warps)
        tile["frag"] = frag
        return dot_config(fmt, m, n, k, group_size, **tile)
    # at one row the CUDA cores (sum_m1 or the rules), which on small grids also quantize W8A8 rows in their
    # prologue (row_kernel_first)
    tensor_cores = m > 1 and (fmt == W_FP8 or (fmt == W_INT8 and k >= INT8_TENSOR_CORE_MIN_K))
    if m <= SUM_MAX_M and (cuda_cores or not tensor_cores):
        return sum_config(fmt, m, n, k)
    return dot_config(fmt, m, n, k, group_size)


def k_slices(cfg: GemvConfig, k: int) -> tuple[int, int]:
    """(K columns a program's slice spans, a whole number of K tiles; the slices K takes) for ``cfg``."""
    k_split = ceil_div(ceil_div(k, cfg.split_k), cfg.block_k) * cfg.block_k
    return k_split, ceil_div(k, k_split)


def tail_vec(cfg: GemvConfig, fmt: int, n: int, k: int, split: int) -> int:
    """Words a lane of the CUDA-core kernel's last, narrower K tile holds (``gemv_triton.cuda_core_sums``): where
    one K slice ends in a part tile of 1 or 2 word columns, fewer than the tile's ``vec``. The 7b's K = 3584 at the
    1024-column int4 tile ran a fourth tile half masked off, at a whole tile's instructions (the loop is issue-bound:
    Nsight Compute, docs/benchmarks.md). 0 where the tiles divide K, or for other kernels and formats."""
    if cfg.kernel != "sum" or fmt not in WORD_VALUES or split > 1 or n % cfg.block_n or k % cfg.block_k == 0:
        return 0
    column = cfg.block_k // cfg.vec  # K columns of one word a lane
    rest = k % cfg.block_k
    return rest // column if rest % column == 0 and rest // column in (1, 2) else 0


def static_shape(cfg: GemvConfig, k: int, weight: torch.Tensor, scale: torch.Tensor | None, tail: int) -> dict:
    """The CUDA-core kernel's K and weight / group-scale row strides as compile-time constants (a model has two
    K values): the loop's addresses become offsets from one base and its weight loads 128-bit (sm_90 SASS of the
    7b int4 gate/up tile: 1003 -> 966 instructions an iteration, 168 -> 128 registers), and its tail tile."""
    if cfg.kernel != "sum":
        return {}
    return dict(
        STATIC_K=k,
        STATIC_WN=weight.stride(0),
        STATIC_SN=scale.stride(0) if scale is not None and scale.dim() == 2 else 0,
        TAIL_VEC=tail,
    )


def check_inputs(
    x, weight, fmt, scale, zero, group_size, x_scale, a_mode, act, residual, norm_weight=None, pre_scale=None
) -> None:
    """One-line VlmqErrors for calls the kernels cannot serve (before Triton sees them)."""
    m, k = x.shape
    n = weight.shape[0]
    if weight.stride(-1) != 1:
        raise VlmqError(f"GEMV weight must be contiguous along K (stride {weight.stride()}): pass weight.contiguous()")
    if (k // 8 if fmt == W_INT4 else k) != weight.shape[1]:
        raise VlmqError(
            f"GEMV activations have K={k} but the weight is {tuple(weight.shape)} ({weight.dtype}): "
            "check that the linear's in_features match"
        )
    if fmt == W_INT4 and (
        group_size % 32
        or k % group_size
        or scale is None
        or scale.shape != (n, k // group_size)
        or (zero is not None and (zero.shape != scale.shape or zero.stride() != scale.stride()))
    ):
        raise VlmqError(
            f"int4 GEMV needs group_size a multiple of 32 dividing K={k} and [N, K // group] scales "
            f"(got group {group_size}, scale {None if scale is None else tuple(scale.shape)}): "
            "repack the weight with w4.pack_int4 and its group scales"
        )
    if fmt in (W_INT8, W_FP8) and (scale is None or scale.numel() != n):
        raise VlmqError(
            f"8-bit GEMV needs one fp32 scale per output row ({n}); expand a per-tensor scale with "
            "scale.expand(N).contiguous()"
        )
    if a_mode != A_FLOAT and fmt not in (W_INT8, W_FP8):
        raise VlmqError("W8A8 activations need int8 or FP8 weights: use a_mode='bf16' for this weight format")
    if x.dtype in (torch.int8, torch.float8_e4m3fn) and (x_scale is None or (x.dtype == torch.int8) != (fmt == W_INT8)):
        raise VlmqError(
            f"quantized activations ({x.dtype}) need per-row x_scale and weights of the same kind "
            f"(got {weight.dtype}): quantize with quantize_activation(x, 'int8' or 'fp8') to match"
        )
    if x.dtype in (torch.int8, torch.float8_e4m3fn) and (norm_weight is not None or pre_scale is not None):
        raise VlmqError(
            "quantized activations cannot be normalized or smoothed: pass the float rows with "
            "a_mode='int8' / 'fp8' and the op quantizes them after the norm"
        )
    if act == ACT_SILU_MUL and n % 2:
        raise VlmqError(f"SiLU·mul needs interleaved gate/up rows (an even N, got {n}): pack with interleave_rows")
    if residual is not None and residual.shape != (m, n // 2 if act == ACT_SILU_MUL else n):
        raise VlmqError(
            f"residual {tuple(residual.shape)} does not match the output ({m}, "
            f"{n // 2 if act == ACT_SILU_MUL else n}): pass the residual stream of these rows"
        )


def check_row_max(x, a_mode, x_partials, row_max_out, row_max_pre_scale, row_max_clear, x_row_max):
    """One-line VlmqErrors for ``gemv``'s row-maximum arguments (its docstring says what they are)."""
    m = x.shape[0]
    for name, t, size in (("row_max_out", row_max_out, m), ("x_row_max", x_row_max, m)):
        if t is not None and (t.dtype != torch.float32 or t.device != x.device or t.dim() != 1 or t.numel() < size):
            raise VlmqError(
                f"{name} must be a 1-D fp32 tensor of at least {size} values on {x.device} (got "
                f"{t.dtype} {tuple(t.shape)} on {t.device}): pass a slot of row_max_buffers"
            )
    if row_max_clear is not None and (
        row_max_clear.dtype != torch.float32
        or row_max_clear.shape != (GEMV_MAX_M,)
        or not row_max_clear.is_contiguous()
    ):
        raise VlmqError(
            f"row_max_clear must be a contiguous fp32 tensor of {GEMV_MAX_M} values (got {row_max_clear.dtype} "
            f"{tuple(row_max_clear.shape)}): pass the next slot of row_max_buffers"
        )
    if (row_max_pre_scale is not None or row_max_clear is not None) and row_max_out is None:
        raise VlmqError("row_max_pre_scale and row_max_clear go with row_max_out: pass the buffer the maxima go to")
    if x_row_max is not None and (a_mode == A_FLOAT or x.dtype in (torch.int8, torch.float8_e4m3fn)):
        raise VlmqError(
            "x_row_max quantizes float W8A8 rows (a_mode 'int8' / 'fp8'; rows already quantized carry x_scale): "
            "drop x_row_max or pass the float rows"
        )
    if x_partials is not None and (row_max_out is not None or x_row_max is not None):
        raise VlmqError("a GEMV over attention partials takes no row maxima: drop row_max_out / x_row_max")


def row_max_on_cuda_cores(weight: torch.Tensor, m: int, a_mode: int, smooth: bool) -> bool:
    """Whether a W8A8 GEMV over ``m`` float rows quantized with ``x_row_max`` (``fused.fused_mlp``'s down_proj) runs
    the CUDA-core kernel, the tile the same call without the maxima takes. Where it would take a tensor-core tile,
    every program quantizes the whole row tile as it loads it, which measured slower than ``normalize_rows`` and
    the plain tile (H200, 2b fp8 down_proj at 16 rows: 27.2 us against 2.8 + 9.2; at one row, on the CUDA cores,
    10.0 against 2.7 + 8.1, so the step gained: docs/benchmarks.md, thirty-sixth session)."""
    n, k = weight.shape
    return gemv_config(weight_format(weight), m, n, k, 0, a_mode, smooth, False, False).kernel == "sum"


def row_max_buffers(layers: int, device: torch.device) -> list[torch.Tensor]:
    """One zeroed fp32 slot of ``GEMV_MAX_M`` row maxima per layer, for ``fused.fused_mlp``: layer l gathers into
    slot l and clears slot l + 1 (mod ``layers``), which no launch reads until layer l + 1 gathers into it, so
    every slot is zero again before its next use, in graphs too, without a memset (at least two layers)."""
    if layers < 2:
        raise VlmqError(f"row maxima forwarded between layers need at least two layers (got {layers})")
    return [torch.zeros(GEMV_MAX_M, dtype=torch.float32, device=device) for _ in range(layers)]


@functools.cache
def _semaphores(device: torch.device) -> torch.Tensor:
    return torch.zeros(SEMAPHORES, dtype=torch.int32, device=device)


def split_semaphores(device: torch.device, tiles: int, split: int) -> torch.Tensor | None:
    """The zeroed per-tile counters a split-K launch of ``tiles`` output tiles counts in on (None without a split)."""
    if split <= 1:
        return None
    if tiles > SEMAPHORES:
        raise ValueError(f"split-K GEMV of {tiles} tiles exceeds the {SEMAPHORES} semaphores")
    return _semaphores(device)


def interleave_rows(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """[N, ...] gate and up rows (or their per-row metadata) → [2N, ...] as gate0, up0, gate1, up1, ...:
    the layout ``act="silu_mul"`` reads, so one program holds both halves of each output."""
    return torch.stack((gate, up), dim=1).reshape(2 * gate.shape[0], *gate.shape[1:])


def normalize_rows(
    x: torch.Tensor,
    norm_weight: torch.Tensor | None,
    eps: float,
    pre_scale: torch.Tensor | None,
    a_mode: int,
    *,
    pdl: bool | None = None,
    max_block: int = 32768,
    num_warps: int | None = None,
    frag_block_k: int = 0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The prologue of ``fused.fused_linear_reference`` -- RMSNorm, SmoothQuant's pre-scale, per-token
    quantization -- as one launch, one program per row: (rows, per-row scales) with int8 / e4m3 rows for
    W8A8, else (normalized rows in eager's dtype, None). The same arithmetic, rounded step by step. Rows of up
    to ``max_block`` columns stay in registers (16-32 values a thread: one read, no serial passes); longer
    ones are read once per step. ``num_warps`` overrides the block's default for a benchmark's sweep (tenth
    session: no setting moved an 18944-column W8A8 row below 4.3 us, docs/benchmarks.md). ``frag_block_k``: the rows
    stored in the K order of the swapped fragment-order int4 tile of that block_k which reads them next, as
    ``frag_activations`` orders them (``gemv``'s ``x_frag``; 0: column order)."""
    m, k = x.shape
    dtype = x.dtype
    if norm_weight is not None and norm_weight.dtype != dtype:
        dtype = torch.promote_types(dtype, norm_weight.dtype)
    if pre_scale is not None and pre_scale.dtype != dtype:
        dtype = torch.promote_types(dtype, pre_scale.dtype)
    out = torch.empty(
        (m, k), dtype={A_INT8: torch.int8, A_FP8: torch.float8_e4m3fn}.get(a_mode, dtype), device=x.device
    )
    scale = torch.empty(m, dtype=torch.float32, device=x.device) if a_mode != A_FLOAT else None
    x = x.contiguous()
    block = min(max_block, 1 << max(k - 1, 1).bit_length())
    from vlmq.engine.kernels.gemv_triton import normalize_rows_kernel

    normalize_rows_kernel[(m,)](
        x,
        norm_weight if norm_weight is not None else x,
        pre_scale if pre_scale is not None else x,
        out.view(torch.uint8) if a_mode == A_FP8 else out,
        scale if scale is not None else x,
        k,
        x.stride(0),
        out.stride(0),
        float(eps),
        1.0 / k,
        NORM=norm_weight is not None,
        SMOOTH=pre_scale is not None,
        QUANT=a_mode,
        BK=block,
        ONE_BLOCK=k <= block,
        CUDA=x.is_cuda,
        FRAG_BK=frag_block_k,
        enable_fp_fusion=False,
        num_warps=num_warps or min(32, max(4, block // 512)),
        **launch_pdl(x.device, pdl, "rows"),
    )
    return out, scale


def gemv_config(
    fmt: int, m: int, n: int, k: int, group_size: int, a_mode: int, smooth: bool, norm: bool, x_pre: bool
) -> GemvConfig:
    """``default_config`` for a call with its prologue: at one row a measured tensor-core tile gives way to the
    CUDA-core one where that one fuses the float rows' RMSNorm / smoothing / W8A8 quantization in its prologue and
    the tensor-core tile would need ``normalize_rows`` first. The launch costs ~2 us on the critical path
    (docs/benchmarks.md, third session); the swapped tiles of ``dot_m1`` gained 0-0.7 us on the bf16 shapes where
    this happens (2b gate_up, 7b qkv and gate_up: the RMSNorm of a decoder layer)."""
    cfg = default_config(fmt, m, n, k, group_size, a_mode=a_mode)
    if cfg.kernel == "dot" and m == 1 and not x_pre and (smooth or norm):
        alt = default_config(fmt, m, n, k, group_size, cuda_cores=True, a_mode=a_mode)
        if alt.kernel == "sum" and not row_kernel_first(alt, fmt, a_mode, smooth, norm, n, k):
            return alt
    return cfg


def named_projections(env: str, value: str, allowed: tuple[str, ...], fix: str) -> set[str]:
    """The projections a comma-separated setting ``$env`` (its ``value``; ``none``: no projection) names, each one of
    ``allowed``, else a one-line error: ``fix``, the names it takes and the bad ones."""
    names = set() if value == "none" else {name.strip() for name in value.split(",")}
    if not names <= set(allowed):
        bad = ", ".join(sorted(names - set(allowed)))
        raise VlmqError(f"{env}={value!r}: {fix}, from {', '.join(allowed)} (not {bad})")
    return names


def norm_first_setting(projection: str) -> bool | None:
    """``$VLMQ_NORM_FIRST`` for an int8 / int4 GEMV of ``projection`` (``pdl.gemv_projection``'s name): None where
    ``row_kernel_first``'s measured rule decides (unset or ``measured``), else whether its RMSNorm runs first."""
    value = os.environ.get(NORM_FIRST_ENV, "measured").strip()
    if value == "measured":
        return None
    fix = "use measured, none or the projections whose RMSNorm runs first"
    return projection in named_projections(NORM_FIRST_ENV, value, NORM_PROJECTIONS, fix)


def norm_defer_setting(projection: str) -> bool | None:
    """``$VLMQ_NORM_DEFER`` for a GEMV of ``projection`` (``pdl.gemv_projection``'s name): None where the measured
    rule decides (unset or ``measured``: ``norm_defer_measured``), else whether its RMSNorm is deferred where the
    launch can (``norm_deferrable``; ``none``: nowhere)."""
    value = os.environ.get(NORM_DEFER_ENV, "measured").strip() or "measured"
    if value == "measured":
        return None
    fix = "use measured, none or the projections whose RMSNorm the CUDA-core GEMV defers"
    return projection in named_projections(NORM_DEFER_ENV, value, NORM_DEFER_PROJECTIONS, fix)


def norm_defer_measured(projection: str, fmt: int, k: int) -> bool:
    """The measured rule: whether a GEMV of ``projection`` over ``fmt`` weights and K = ``k`` defers its RMSNorm by
    default (``NORM_DEFER_MEASURED``)."""
    return (projection, format_name(fmt), k > NORM_FIRST_MIN_K) in NORM_DEFER_MEASURED


def norm_deferrable(
    cfg: GemvConfig, k: int, a_mode: int, x_pre: bool, smooth: bool, norm: bool, x_max: bool = False, m: int = 1
) -> bool:
    """Whether a launch can defer its rows' RMSNorm (``NORM_DEFER_ENV``): float rows with a norm in one K slice (each
    program must see the whole row) -- on the CUDA cores, rows without a SmoothQuant pre-scale or W8A8 rows whose
    maxima times the norm weight and pre-scale came with them (``x_max``: ``gemv``'s ``x_row_max`` with a norm; else
    W8A8 rows need the normalized values to quantize them); on the tensor cores, one such W8A8 row (``m`` 1: the
    tile computes the live row alone, ``gemv_triton.tensor_core_sums``' ``ONE_ROW``)."""
    if not norm or x_pre or k_slices(cfg, k)[1] != 1:
        return False
    if cfg.kernel == "sum":
        return (a_mode == A_FLOAT and not smooth) or x_max
    return x_max and m == 1


def uses_forwarded_maxima(
    cfg: GemvConfig, fmt: int, m: int, n: int, k: int, a_mode: int, smooth: bool, projection: str | None = None
) -> bool:
    """Whether a W8A8 launch over float rows with an RMSNorm quantizes them with maxima gathered before the norm
    (``gemv``'s ``x_row_max`` with ``norm_weight``; ``$VLMQ_W8A8_ROW_MAX=forward``), the norm deferred, rather than
    normalize first, by the measured rule: on the CUDA cores, where it can defer (``norm_deferrable``) and the
    maxima replace only the prologue's statistics pass (``row_kernel_first``: where the rule normalizes first, every
    program would quantize the whole row in its loop instead, sm_90 SASS: 2b int8 gate/up 5.9 -> 8.5 instructions a
    weight value, 7b q/k/v 5.7 -> 10.6; docs/benchmarks.md, fiftieth session). Not on the tensor cores: the one-row
    tile that computes the live row alone with the norm deferred (``norm_deferrable``'s ``m`` 1) took the 2b fp8
    gate/up from 10.0 to 14.4 us added to the step against ``normalize_rows`` (1.6) and the tile after it, the 7b fp8
    step 1.056x (H200, fifty-first session; ``$VLMQ_NORM_FIRST=none`` still asks for it)."""
    if a_mode == A_FLOAT or cfg.kernel != "sum":
        return False
    if not norm_deferrable(cfg, k, a_mode, False, smooth, True, x_max=True, m=m):
        return False
    return not row_kernel_first(cfg, fmt, a_mode, smooth, True, n, k, None, projection)


def takes_forwarded_maxima(
    cfg: GemvConfig,
    fmt: int,
    m: int,
    n: int,
    k: int,
    a_mode: int,
    smooth: bool,
    projection: str | None,
    norm_first: bool | None,
) -> bool:
    """Whether a launch given float W8A8 rows' maxima before their RMSNorm uses them, its norm deferred: not where the
    norm is asked to run first (``norm_first`` True: argument or ``$VLMQ_NORM_FIRST``), wherever it can defer where
    it is kept out of ``normalize_rows`` (False), else ``uses_forwarded_maxima``'s measured rule."""
    if norm_first is not None:
        return not norm_first and norm_deferrable(cfg, k, a_mode, False, smooth, True, x_max=True, m=m)
    return uses_forwarded_maxima(cfg, fmt, m, n, k, a_mode, smooth, projection)


def forwarded_maxima_at_one_row(weight: torch.Tensor, a_mode: int, smooth: bool, projection: str) -> bool:
    """``takes_forwarded_maxima`` for a decode step's one-row launch of ``weight`` (a W8A8 q/k/v or gate/up pack) with
    the tile it then takes and ``$VLMQ_NORM_FIRST``: whether a launch before it should gather its rows' maxima."""
    n, k = weight.shape
    fmt = weight_format(weight)
    cfg = gemv_config(fmt, 1, n, k, 0, a_mode, smooth, True, False)
    return takes_forwarded_maxima(cfg, fmt, 1, n, k, a_mode, smooth, projection, norm_first_setting(projection))


def row_kernel_first(
    cfg: GemvConfig,
    fmt: int,
    a_mode: int,
    smooth: bool,
    norm: bool,
    n: int,
    k: int,
    norm_first: bool | None = None,
    projection: str | None = None,
) -> bool:
    """Whether float rows go through ``normalize_rows`` before the GEMV rather than its own prologue: always for
    the tensor-core kernel; for the CUDA-core one where rows are smoothed or quantized (W8A8) and its programs
    would redo more than ``ROW_PROLOGUE_MAX_WORK`` row values between them (each program quantizes the whole row
    again, ~15 operations a value). The RMSNorm alone (``norm_first`` None) runs first for int8 / int4 weights
    with K > ``NORM_FIRST_MIN_K`` or where ``projection`` (``pdl.gemv_projection``'s name) and format are in
    ``NORM_FIRST_ALWAYS``, and stays in the prologue otherwise; ``norm_first`` True / False forces where a normed row
    goes, W8A8 ones too (a benchmark's A/B)."""
    if cfg.kernel != "sum":
        return a_mode != A_FLOAT or smooth or norm
    if norm_first is not None and norm:
        return norm_first
    if norm and a_mode == A_FLOAT and not smooth:
        return fmt in (W_INT8, W_INT4) and (k > NORM_FIRST_MIN_K or (projection, fmt) in NORM_FIRST_ALWAYS)
    programs = ceil_div(n, cfg.block_n) * cfg.split_k
    return (a_mode != A_FLOAT or smooth) and programs * k > ROW_PROLOGUE_MAX_WORK


def gemv_case(projection: str, fmt: int, cfg: GemvConfig) -> tuple[str, str, str]:
    """(projection (``pdl.gemv_projection``'s), weight format name, kernel) of a GEMV launch: what
    ``pdl.pdl_trigger`` decides by."""
    return projection, format_name(fmt), cfg.kernel


def format_name(fmt: int) -> str:
    """A weight format's name (``FORMAT_NAMES``: bf16, int8, fp8, int4)."""
    return next(name for name, code in FORMAT_NAMES.items() if code == fmt)


def frag_activations(x: torch.Tensor, cfg: GemvConfig) -> torch.Tensor:
    """[M, K] rows with each K tile of ``cfg.block_k`` columns in the order a swapped fragment-order int4 tile reads
    them (``gemv_triton.frag_permuted`` with kWidth 2: column 8 U c + 8 u + 4 e + 2 a + b to 32 u + 16 a + 8 b +
    2 c + e, U = block_k / 32): what ``gemv(..., x_frag=True)`` takes."""
    m, k = x.shape
    u = cfg.block_k // 32
    return x.reshape(m, k // cfg.block_k, 4, u, 2, 2, 2).permute(0, 1, 3, 5, 6, 2, 4).reshape(m, k)


def frag_rows_fit(cfg: GemvConfig, fmt: int, k: int) -> bool:
    """Whether ``cfg`` is a swapped fragment-order int4 tile whose K tiles divide K: one that can read rows stored
    in its K order (``x_frag``)."""
    return fmt == W_INT4 and cfg.kernel == "dot" and cfg.frag and cfg.swap and k % cfg.block_k == 0


def frag_rows_setting() -> bool:
    """``$VLMQ_FRAG_ROWS``: whether ``normalize_rows`` stores its rows in the K order of the tile that reads them
    (``FRAG_ROWS_ENV``); a one-line VlmqError on any value but 0 and 1."""
    value = os.environ.get(FRAG_ROWS_ENV, "1").strip()
    if value not in ("0", "1"):
        raise VlmqError(f"{FRAG_ROWS_ENV}={value!r}: use 0 (rows in column order) or 1 (in the int4 tile's K order)")
    return value == "1"


def prefetch_setting() -> bool:
    """``$VLMQ_GEMV_PREFETCH``: whether the staged one-row tiles prefetch their first K tiles into L2 before their PDL
    wait (``PREFETCH_ENV``); a one-line VlmqError on any value but those of ``PREFETCH_SETTINGS``."""
    value = os.environ.get(PREFETCH_ENV, "off").strip()
    if value not in PREFETCH_SETTINGS:
        raise VlmqError(
            f"{PREFETCH_ENV}={value!r}: use off, or l2 (the staged one-row GEMV tiles prefetch their first K tiles "
            "into L2 before their PDL wait)"
        )
    return value == "l2"


def measured_choice(env: str, choices: tuple[str, ...], usage: str) -> str:
    """A setting ``$env`` whose default is ``measured`` (unset or empty), one of ``choices``, else a one-line
    VlmqError: ``env=value: usage``."""
    value = os.environ.get(env, "measured").strip() or "measured"
    if value not in choices:
        raise VlmqError(f"{env}={value!r}: {usage}")
    return value


def unmasked_setting() -> str:
    """``$VLMQ_GEMV_UNMASKED`` (``UNMASKED_SETTINGS``; unset: ``measured``), else a one-line VlmqError."""
    return measured_choice(
        UNMASKED_ENV,
        UNMASKED_SETTINGS,
        "use measured (the default: int4 weights), 0 (every load masked) or 1 (whole one-row CUDA-core tiles load "
        "without masks)",
    )


def unmasked_loads(fmt: int) -> bool:
    """Whether whole one-row CUDA-core tiles over ``fmt`` weights load without masks (``UNMASKED_ENV``)."""
    value = unmasked_setting()
    return fmt in UNMASKED_MEASURED if value == "measured" else value == "1"


def prefetch_lines(cfg: GemvConfig, weight: torch.Tensor, fmt: int, pdl_on: bool) -> int:
    """128-byte lines of each weight row a program of the CUDA-core kernel prefetches before its PDL wait (a power
    of two covering its first ``num_stages - 1`` K tiles; 0: none): only staged tiles launched with PDL, and only
    where ``prefetch_setting`` says."""
    if cfg.kernel != "sum" or cfg.num_stages <= 1 or not pdl_on or not prefetch_setting():
        return 0
    bits = 4 if fmt == W_INT4 else weight.element_size() * 8  # int4: eight to an int32 word
    lines = ceil_div((cfg.num_stages - 1) * cfg.block_k * bits // 8, LINE_BYTES)
    return 1 << (lines - 1).bit_length()


def check_frag_activations(cfg: GemvConfig, fmt: int, k: int, x_pre: bool, *row_work) -> None:
    """Raises VlmqError, in one line, where ``gemv``'s ``x_frag`` rows cannot be read as they are."""
    if not frag_rows_fit(cfg, fmt, k):
        raise VlmqError(
            f"x_frag rows need int4 weights on a swapped fragment-order tile whose K tiles divide K (got kernel "
            f"{cfg.kernel!r}, frag {cfg.frag}, swap {cfg.swap}, block_k {cfg.block_k}, K {k}): pass such a config"
        )
    if x_pre or any(t is not None for t in row_work):
        raise VlmqError(
            "x_frag rows are read as they are: no norm, pre-scale, quantized rows, partials or row maxima with them"
        )


def gemv(
    x: torch.Tensor,
    weight: torch.Tensor,
    scale: torch.Tensor | None = None,
    zero: torch.Tensor | None = None,
    group_size: int = 0,
    bias: torch.Tensor | None = None,
    *,
    x_scale: torch.Tensor | None = None,
    a_mode: int = A_FLOAT,
    norm_weight: torch.Tensor | None = None,
    eps: float = 1e-6,
    pre_scale: torch.Tensor | None = None,
    act: int = ACT_NONE,
    residual: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.bfloat16,
    config: GemvConfig | None = None,
    pdl: bool | None = None,
    norm_first: bool | None = None,
    norm_defer: bool | None = None,
    x_partials=None,
    row_max_out: torch.Tensor | None = None,
    row_max_pre_scale: torch.Tensor | None = None,
    row_max_clear: torch.Tensor | None = None,
    x_row_max: torch.Tensor | None = None,
    x_frag: bool = False,
) -> torch.Tensor:
    """Launch one fused linear over [M, K] activations (CUDA, or Triton's interpreter on CPU tensors).

    ``x`` is float, or int8 / e4m3 already quantized with per-row ``x_scale`` (then ``a_mode`` follows x).
    With float ``x`` each row is normalized, pre-scaled and (``a_mode`` int8 / fp8) quantized per token as
    ``fused_linear_reference`` does: in the CUDA-core kernel's prologue (up to 4 rows), or by
    ``normalize_rows`` before the tensor-core kernel (one read of each row instead of one per program).
    ``pre_scale`` [K]: SmoothQuant's activation smoothing after the norm. Output [M, N] (``[M, N // 2]`` with
    ``act=ACT_SILU_MUL``). ``norm_first`` (float rows with an RMSNorm, CUDA-core kernel): True runs the norm (and a
    W8A8 row's smoothing and quantization) in ``normalize_rows`` first, False in the prologue; None follows
    ``row_kernel_first``'s rule. ``norm_defer``: the RMSNorm deferred where the launch can (``norm_deferrable``:
    its multiplier on the sums, ``NORM_DEFER_ENV``) unless ``norm_first`` is True; None follows
    ``$VLMQ_NORM_DEFER`` and, unset, the measured rule (``norm_defer_measured``). ``x_partials``
    (``attention.AttentionPartials``): x is the decode attention's output, combined from its partials as the
    kernel loads it (``x`` then gives only the shape and dtype); float rows without a norm or pre-scale, on the
    CUDA cores (``partials_gemv_ok`` says where).

    A W8A8 linear's float input rows quantized without ``normalize_rows`` (``fused.fused_mlp``): the launch that
    makes them takes ``row_max_out`` (fp32, >= M values, zero before the launch) and gathers into it each output
    row's absolute maximum as stored, times ``row_max_pre_scale`` (the next linear's SmoothQuant pre-scale)
    where given, as ``normalize_rows`` would compute it; its first program zeroes ``row_max_clear`` (fp32,
    ``GEMV_MAX_M`` values: the buffer the next launch of this kind gathers into). The launch that reads them
    takes those maxima as ``x_row_max`` and quantizes each tile of its rows as it loads it. With ``norm_weight``,
    ``x_row_max`` holds the maxima of the rows times the norm weight and pre-scale before the norm (gathered with
    their product as ``row_max_pre_scale``, ``fused.fused_linear_gather``): the launch defers the RMSNorm
    (``norm_deferrable``) and quantizes x g p with them where ``takes_forwarded_maxima`` says (by the measured rule
    in place of the CUDA-core prologue's statistics; in place of ``normalize_rows`` before a one-row tensor-core tile
    where ``norm_first`` is False); elsewhere (split K, rows the CUDA-core rule normalizes first, a tensor-core tile
    by the rule or over several rows, a norm asked to run first) it ignores them and normalizes as without.

    ``x_frag``: float rows already in the K order a swapped fragment-order int4 tile (``config``) reads them
    (``frag_activations``), so its programs skip their per-tile permute through shared memory: a benchmark's rows
    (benchmarks/bench_kernels.py's ``vlmq-xfrag``); ``normalize_rows`` stores them so where ``$VLMQ_FRAG_ROWS`` says.
    """
    m, k = x.shape
    fmt = weight_format(weight)
    n = weight.shape[0]
    x_pre = x.dtype in (torch.int8, torch.float8_e4m3fn)
    if x_pre:
        a_mode = A_INT8 if x.dtype == torch.int8 else A_FP8
    check_inputs(x, weight, fmt, scale, zero, group_size, x_scale, a_mode, act, residual, norm_weight, pre_scale)
    check_row_max(x, a_mode, x_partials, row_max_out, row_max_pre_scale, row_max_clear, x_row_max)
    if config is None and fmt == W_INT4 and not x_pre and x_partials is None and m <= GEMV_MAX_M and not x_frag:
        config = mma_choice(x, weight, scale, zero, group_size, out_dtype, n, k)
    # with x_row_max, the tile the same call without it takes (the A/B compares the two on one tile)
    cfg = config or gemv_config(fmt, m, n, k, group_size, a_mode, pre_scale is not None, norm_weight is not None, x_pre)
    if fmt == W_INT8 and cfg.kernel == "sum" and (k % 4 or weight.stride(0) % 4 or weight.storage_offset() % 4):
        cfg = dot_config(fmt, m, n, k)  # the CUDA-core kernel reads int8 rows as int32 words
    if fmt == W_INT4 and cfg.kernel == "dot":
        cfg = cfg._replace(block_k=int4_block_k(cfg.block_k, group_size, k, cfg.frag, cfg.post))
    if x_partials is not None and not partials_gemv_ok(cfg, a_mode, x_pre, norm_weight, pre_scale):
        raise VlmqError(
            "a GEMV over attention partials takes float rows without a norm or pre-scale on the CUDA cores "
            f"(got kernel {cfg.kernel!r}, a_mode {a_mode}); check partials_gemv_ok first"
        )
    if x_frag:
        check_frag_activations(cfg, fmt, k, x_pre, norm_weight, pre_scale, x_partials, x_row_max)
    projection = gemv_projection(act == ACT_SILU_MUL, residual is not None, n, k)
    if norm_first is None and norm_weight is not None and fmt in (W_INT8, W_INT4, W_FP8):
        norm_first = norm_first_setting(projection)
    smooth, norm = pre_scale is not None, norm_weight is not None
    if x_row_max is not None and norm:  # W8A8 rows' maxima before their norm: a deferred norm's, where it pays
        if takes_forwarded_maxima(cfg, fmt, m, n, k, a_mode, smooth, projection, norm_first):
            norm_defer = True
        else:
            x_row_max = None  # normalized first or in the prologue, as without them
    if norm_defer is None and norm:
        norm_defer = norm_defer_setting(projection)
        if norm_defer is None:
            norm_defer = norm_defer_measured(projection, fmt, k)
    # (a norm asked to run first -- by argument or $VLMQ_NORM_FIRST -- runs first; deferring overrides the rule)
    norm_defer = (
        bool(norm_defer)
        and norm_first is not True
        and norm_deferrable(cfg, k, a_mode, x_pre, smooth, norm, x_max=x_row_max is not None, m=m)
    )
    if norm_defer:
        norm_first = False
    if (
        not x_pre
        and x_row_max is None
        and row_kernel_first(cfg, fmt, a_mode, smooth, norm, n, k, norm_first, projection)
    ):
        # float rows for a swapped fragment-order int4 tile: stored in its K order where $VLMQ_FRAG_ROWS says
        tile_order = a_mode == A_FLOAT and frag_rows_fit(cfg, fmt, k) and frag_rows_setting()
        frag_block_k = cfg.block_k if tile_order else 0
        x, x_scale = normalize_rows(x, norm_weight, eps, pre_scale, a_mode, pdl=pdl, frag_block_k=frag_block_k)
        norm_weight = pre_scale = None
        x_pre = a_mode != A_FLOAT
        x_frag = x_frag or tile_order
    if cfg.kernel == "mma":
        if (
            fmt != W_INT4
            or x.dtype != torch.bfloat16
            or out_dtype != torch.bfloat16
            or x_partials is not None
            or row_max_out is not None
        ):
            raise VlmqError(
                "the int4 tensor-core GEMV (kernel 'mma') takes int4 weights, bf16 rows and a bf16 output: "
                "pick another config for this call"
            )
        on = launch_pdl(x.device, pdl, "gemv", gemv_case(projection, fmt, cfg))["PDL"] != 0
        sems = split_semaphores(x.device, -(-n // cfg.block_n), cfg.split_k)
        return w4_gemv(
            x.contiguous(), weight, scale, zero, group_size, bias, residual, act == ACT_SILU_MUL, mma_tile(cfg), on,
            cfg.split_k, sems,
        )  # fmt: skip
    k_split, split = k_slices(cfg, k)
    x = x.contiguous()
    residual = residual.contiguous() if residual is not None else None
    out_n = n // 2 if act == ACT_SILU_MUL else n
    y = torch.empty((m, out_n), dtype=out_dtype, device=x.device)
    grid_n, grid_m = -(-n // cfg.block_n), (-(-m // cfg.block_m) if cfg.kernel == "dot" else 1)
    part = torch.empty((split, m, n), dtype=torch.float32, device=x.device) if split > 1 else y
    sems = split_semaphores(x.device, grid_n * grid_m, split)
    sems = y if sems is None else sems
    # FP8 travels as uint8 and is bitcast in the kernel (masked FP8 lanes cannot be filled with 0);
    # the CUDA-core kernel reads int8 weights as int32 words (4 columns each)
    x_arg = x.view(torch.uint8) if x.dtype == torch.float8_e4m3fn else x
    w_arg = weight.view(torch.uint8) if fmt == W_FP8 else weight
    if fmt == W_INT8 and cfg.kernel == "sum":
        w_arg = weight.view(torch.int32)
    dummy = y
    row_max = (
        row_max_out if row_max_out is not None else dummy,
        row_max_pre_scale if row_max_pre_scale is not None else dummy,
        row_max_clear if row_max_clear is not None else dummy,
    )
    args = (
        x_arg,
        x_row_max if x_row_max is not None else x_scale if x_scale is not None else dummy,
        w_arg,
        scale if scale is not None else dummy,
        zero if zero is not None else dummy,
        bias if bias is not None else dummy,
        norm_weight if norm_weight is not None else dummy,
        pre_scale if pre_scale is not None else dummy,
        residual if residual is not None else dummy,
        y,
        part,
        sems,
        partials_args(x_partials, y),
        row_max,
        m,
        n,
        k,
        k_split,
        x.stride(0),
        w_arg.stride(0),
        scale.stride(0) if scale is not None and scale.dim() == 2 else 0,
        residual.stride(0) if residual is not None else 0,
        y.stride(0),
        float(eps),
        1.0 / k,
        PLANE_MAGIC.get(fmt, 0),
    )
    tail = tail_vec(cfg, fmt, n, k, split)
    pdl_args = launch_pdl(x.device, pdl, "gemv", gemv_case(projection, fmt, cfg))
    meta = dict(
        W_FMT=fmt,
        A_MODE=a_mode,
        X_PRE=x_pre,
        NORM=2 if norm_defer else norm_weight is not None,
        SMOOTH=pre_scale is not None,
        HAS_BIAS=bias is not None,
        ACT=act,
        RESID=residual is not None,
        GROUP=max(group_size, 1),
        HAS_ZERO=zero is not None,
        SPLIT=split > 1,
        BM=cfg.block_m,
        BN=cfg.block_n,
        BK=cfg.block_k,
        VEC=cfg.vec,
        PIPE=cfg.pipe,
        EVEN_N=n % cfg.block_n == 0,
        EVEN_K=k % cfg.block_k == 0 or tail > 0,
        ROW_SCALE=fmt != W_INT4 and scale is not None,
        num_warps=cfg.num_warps,
        num_stages=cfg.num_stages,
        **pdl_args,
    )
    from vlmq.engine.kernels.gemv_triton import gemv_kernel

    gemv_kernel[(grid_n, grid_m, split)](
        *args,
        **meta,
        DOT=cfg.kernel == "dot",
        CUDA=x.is_cuda,
        SWAP=cfg.swap,
        POST=cfg.post,
        FRAG=cfg.num_warps if cfg.frag else 0,
        X_FRAG=x_frag,
        XPART=x_partials.splits if x_partials is not None else 0,
        STAGES=cfg.num_stages if cfg.kernel == "sum" else 1,
        ROW_MAX=(row_max_out is not None) + 2 * (x_row_max is not None),
        ROW_MAX_SMOOTH=row_max_pre_scale is not None,
        CLEAR_N=row_max_clear.numel() if row_max_clear is not None else 0,
        ONE_ROW=cfg.kernel == "dot" and x_row_max is not None and m == 1,
        UNMASKED=cfg.kernel == "sum" and unmasked_loads(fmt),
        PREFETCH=prefetch_lines(cfg, weight, fmt, pdl_args["PDL"] != 0),
        **static_shape(cfg, k, w_arg, scale, tail),
        **({"maxnreg": cfg.maxnreg} if cfg.kernel == "sum" and cfg.maxnreg else {}),  # (the interpreter drops it)
    )
    return y


def partials_gemv_ok(cfg: GemvConfig, a_mode: int, x_pre: bool, norm_weight, pre_scale) -> bool:
    """Whether a GEMV can read its rows as attention partials (``gemv(x_partials=...)``): the CUDA-core kernel,
    float rows, no RMSNorm or SmoothQuant pre-scale before it (o_proj of a weight-only or BF16 model)."""
    return cfg.kernel == "sum" and a_mode == A_FLOAT and not x_pre and norm_weight is None and pre_scale is None


def partials_args(x_partials, dummy: torch.Tensor) -> tuple:
    """gemv_kernel's ``xpart`` tuple: (acc, ml, count, BH, S, KV heads, G, G_PAD, D), or placeholders."""
    if x_partials is None:
        return (dummy, dummy, dummy, 0, 0, 0, 0, 0, 0)
    p = x_partials
    return (p.acc, p.ml, p.count, p.count.shape[0], p.splits, p.kv_heads, p.groups, p.g_pad, p.head_dim)
