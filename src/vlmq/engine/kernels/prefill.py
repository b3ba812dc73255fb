"""Quantized prefill (more than ``GEMV_MAX_M`` rows): tensor-core GEMMs, library ones where a library has them.

Paths per scheme (``PREFILL_PATH`` is the default; ``benchmarks/bench_kernels.py`` times every path):

- BF16: cuBLAS.
- W8A16 (int8 / FP8 weights, float activations): ``"dequant"`` writes the bf16 weight ``q * scale`` in one
  Triton pass (each weight rounded to bf16 once), then cuBLAS; or ``"triton"``, gemv.py's ``dot`` kernel with
  GEMM tiles (weights dequantized in registers, never written).
- W4A16: ``"dequant"`` writes the bf16 weight in one Triton pass (rounded as w4's reference rounds),
  then cuBLAS; or ``"triton"``.
- W8A16 int8 and W4A16 also ``"cutlass"``: CUTLASS's Hopper mixed-input GEMM (``cutlass_gemm``; a library built
  with nvcc), which widens the weight tile in registers behind warp-specialised TMA loads. It runs where the tile
  table's entry for the shape carries a ``cutlass`` tile (twelfth session, H200, 300 rows, us: 7b int8 qkv 24.7 vs
  31.5 dequantized, o 24.0 vs 30.1, gate/up 168.4 vs 234.0, down 96.3 vs 129.0 -- a layer 313.5 vs 424.6, cuBLAS
  BF16 255.5; 7b int4 gate/up 219.8 vs 229.2; 2b int8 gate/up 41.8 vs 53.8) and the library is built; elsewhere
  the library path.
- W8A8 int8 (SmoothQuant): ``"triton"`` (int8 x int8 ``tl.dot``, scales in the epilogue), or ``"int_mm"``,
  ``torch._int_mm`` (cuBLASLt) with the scales applied after by eager ops.
- W8A8 FP8: ``"scaled_mm"``, ``torch._scaled_mm`` with row-wise scales (cuBLASLt's 128 x 128 tiles on sm_90); or
  ``"triton"``.
- W8A8 (both) also ``"cutlass"``: CUTLASS's FP8 / int8 tensor-core GEMM (``cutlass_gemm.w8a8_gemm``; scales and bias
  in an epilogue visitor tree, ``w8_linear_reference``'s order), run where the tile table carries a ``cutlass`` tile
  (fourteenth session, H200, 300 rows, us, CUDA graph: 7b FP8 qkv 13.5 vs ``_scaled_mm`` 16.1, o 11.9 vs 12.9,
  gate/up 99.5 vs 110.6, down 52.6 vs 57.0 -- a layer 177.5 vs 196.6; 7b int8 o 11.9, gate/up 96.9, down 48.9
  against the Triton GEMM's best 12.4, 104.5, 56.4 -- a layer 170.1 vs 183.6; 2b FP8 gate/up 24.6 vs 27.6, down
  22.8 vs 23.7).

Defaults from the H200 (bench_kernels.py, qwen2-vl-2b / 7b q/k/v, o, gate/up, down at 300 and 1024 rows,
us per call; call 3 of the issue-16/17 session):
- FP8 W8A8: ``_scaled_mm`` fastest everywhere (2b gate/up at 300 rows 27.8 vs Triton 53.3; 7b 112 vs 197).
- int8 W8A8: the Triton GEMM, 1.2-4.5x faster than ``_int_mm`` + eager scaling on every shape (2b gate/up
  28.0 vs 84.6, 7b 130 vs 252) but 2b down at 300 rows (41.1 vs 32.4).
- W4A16: dequantize-then-cuBLAS, 2-3x faster than the Triton GEMM everywhere (2b gate/up 50.8 vs 95.9).
- W8A16: measured with the earlier dequant path (eager widening, then eager scaling of the output: 2b gate/up
  140.9 us) the Triton GEMM won at 20 of 32 shapes (81.6). The one-pass dequantize kernel here is the W4A16
  path's design, which measured 1.3-4x faster than the Triton GEMM wherever both ran; it reads 0.5 byte more
  per weight than the int4 pass (~5 us on 2b gate/up), so "dequant" is the default -- to be confirmed by
  ``bench_kernels.py --quick`` (its prefill rows time both).
Where a library call's shape rules are not met (K or N not a multiple of 16), the Triton path runs. Where a sweep
(``bench_kernels.py --sweep --rows 300``, then ``--write-tiles``) measured a Triton GEMM tile faster than the
library path for a scheme and weight shape, that tile runs instead, within a factor of 2 of the measured rows
(``measured_tile``; on the H200: W8A8 int8 tiles at 300 rows, sixth session).

``mixed_linear`` is a plain pipelined GEMM (``mixed_gemm_triton``: TMA loads, the M tiles of a weight tile side by
side). Where ``bench_prefill_gemm.py --write-tiles`` measured one of its tiles faster than both the library call
and the generic kernel's tile, the table's entry carries it (``mixed``) and it runs (eleventh session, 300 rows,
us in a CUDA graph: W8A8 int8 7b qkv 12.7 vs 15.0, o 12.2 vs 13.8, gate/up 101.0 vs 136.6, down 56.1 vs 68.8,
2b gate/up 21.9 vs 23.2, down 17.6 vs 21.2; a 7b layer's four 182 us against 234 and cuBLAS BF16's 254; the 7b's
o, gate/up and down have since gone to CUTLASS, above). FP8 W8A8 lost to ``_scaled_mm`` here (200 us a 7b layer
against the best tiles' 279; CUTLASS's tiles now beat both); weight-only stays on dequantize-then-cuBLAS
(7b int8 432 us a layer against 473: the widening in registers is not hidden behind the MMAs, and the same GEMM on
bf16 weights already takes 345 against cuBLAS's 254).
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import NamedTuple

import torch
import torch.nn.functional as F

from vlmq.engine.kernels.cutlass_gemm import (
    W4_SHUFFLED_TWINS,
    W8A8_TYPES,
    shuffle_fits,
    unavailable_reason,
    w4_group_terms,
    w4_shuffle,
    w4a16_gemm,
    w8a8_gemm,
    w8a16_gemm,
)
from vlmq.engine.kernels.gemv import (
    GEMV_MAX_M,
    PLANE_MAGIC,
    W_FLOAT,
    W_FP8,
    W_INT4,
    CutlassTile,
    MixedTile,
    dot_config,
    gemv,
    measured_prefill,
    weight_format,
)
from vlmq.errors import VlmqError

PREFILL_PATH = {
    "bf16": "cublas",
    "w8a16": "dequant",
    "w4a16": "dequant",
    "w8a8_int8": "triton",
    "w8a8_fp8": "scaled_mm",
}  # the module doc gives the measurements
PATHS = {
    "bf16": ("cublas",),
    "w8a16": ("dequant", "triton", "mixed", "cutlass"),
    "w4a16": ("dequant", "triton", "mixed", "cutlass"),
    "w8a8_int8": ("triton", "int_mm", "mixed", "cutlass"),
    "w8a8_fp8": ("scaled_mm", "triton", "mixed", "cutlass"),
}


def prefill_paths(kind: str, fmt: int) -> tuple[str, ...]:
    """The paths ``prefill_linear`` takes for a scheme ``kind`` and weight format ``fmt``: ``PATHS[kind]``, less
    CUTLASS for FP8 weights with bf16 rows (its mixed-input GEMM here reads int8 or int4 weights only)."""
    if kind == "w8a16" and fmt == W_FP8:
        return tuple(p for p in PATHS[kind] if p != "cutlass")
    return PATHS[kind]


def scheme(weight: torch.Tensor, x: torch.Tensor) -> str:
    """The arithmetic a call runs: bf16, w8a16, w4a16, w8a8_int8 or w8a8_fp8."""
    fmt = weight_format(weight)
    if fmt == W_FLOAT:
        return "bf16"
    if fmt == W_INT4:
        return "w4a16"
    if x.dtype == torch.int8:
        return "w8a8_int8"
    if x.dtype == torch.float8_e4m3fn:
        return "w8a8_fp8"
    return "w8a16"


def w8_linear_dequant_mm(
    x: torch.Tensor,
    qweight: torch.Tensor,
    wscale: torch.Tensor,
    xscale: torch.Tensor | None,
    bias: torch.Tensor | None,
    out_dtype: torch.dtype,
    compute: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    """Widen the 8-bit values to ``compute`` and multiply (cuBLAS on CUDA); scales after, in fp32.

    int8 and e4m3 values are exact in bf16 and the GEMM accumulates in fp32, so in bf16 this is the arithmetic
    of the int8/FP8 MMA path up to the bf16 rounding of the unscaled product; in float32 it is
    ``w8.w8_linear_reference``, the kernels' arithmetic unfused."""
    y = (x.to(compute) @ qweight.to(compute).t()).float() * wscale.float().view(1, -1)
    if xscale is not None:
        y = y * xscale.float().view(-1, 1)
    if bias is not None:
        y = y + bias.float()
    return y.to(out_dtype)


def _dequant_out(out: torch.Tensor | None, n: int, k: int, dtype: torch.dtype, device) -> torch.Tensor:
    """A dequantized weight's buffer: ``out`` (a caller's scratch, e.g. reused layer after layer) or a new one."""
    if out is None:
        return torch.empty((n, k), dtype=dtype, device=device)
    if out.shape != (n, k) or out.dtype != dtype or not out.is_contiguous():
        raise ValueError(f"dequantize out must be a contiguous [{n}, {k}] {dtype} tensor, got {tuple(out.shape)}")
    return out


def dequantize_int4_cuda(
    packed: torch.Tensor,
    scale: torch.Tensor,
    zero: torch.Tensor | None,
    group_size: int,
    dtype: torch.dtype,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """w4.dequantize_int4 in one Triton pass (a GPU, or Triton's interpreter), into ``out`` if given."""
    from vlmq.engine.kernels.gemv_triton import dequant_int4_kernel

    n, k = packed.shape[0], packed.shape[1] * 8
    out = _dequant_out(out, n, k, dtype, packed.device)
    block_n, block_k = 32, min(128, group_size)
    grid = (-(-n // block_n), k // block_k)
    dequant_int4_kernel[grid](
        packed,
        scale,
        zero if zero is not None else scale,
        out,
        n,
        packed.stride(0),
        scale.stride(0),
        out.stride(0),
        PLANE_MAGIC[W_INT4],
        GROUP=group_size,
        HAS_ZERO=zero is not None,
        BN=block_n,
        BK=block_k,
        num_warps=4,
    )
    return out


def dequantize_w8_cuda(
    qweight: torch.Tensor, wscale: torch.Tensor, dtype: torch.dtype, out: torch.Tensor | None = None
) -> torch.Tensor:
    """The [N, K] weight ``q * scale`` of int8 / e4m3 rows with per-row fp32 scales, in ``dtype``, in one Triton
    pass (a GPU, or Triton's interpreter), into ``out`` if given."""
    from vlmq.engine.kernels.gemv_triton import dequant_w8_kernel

    n, k = qweight.shape
    out = _dequant_out(out, n, k, dtype, qweight.device)
    is_fp8 = qweight.dtype == torch.float8_e4m3fn
    block_n, block_k = 32, 256
    dequant_w8_kernel[(-(-n // block_n), -(-k // block_k))](
        qweight.view(torch.uint8) if is_fp8 else qweight,
        wscale,
        out,
        n,
        k,
        qweight.stride(0),
        out.stride(0),
        IS_FP8=is_fp8,
        BN=block_n,
        BK=block_k,
        num_warps=4,
    )
    return out


def dequant_slices(n: int, k: int, chunk_bytes: int | None = None) -> list[tuple[int, int]]:
    """The [start, stop) output rows of ``dequant_linear``'s slices: all ``n`` rows at once when ``chunk_bytes`` is
    None, else as many whole 64-row tiles as fit ``chunk_bytes`` of bf16 weight (at least one) a slice."""
    rows = n if chunk_bytes is None else min(n, max(64, chunk_bytes // (2 * k) // 64 * 64))
    return [(start, min(n, start + rows)) for start in range(0, n, rows)]


def dequantize_weight(weight, scale, zero, group_size, dtype: torch.dtype, out: torch.Tensor | None = None):
    """Any weight-only pack (int8 / e4m3 rows with per-row scales, or packed int4) as its [N, K] ``dtype`` weight,
    into ``out`` if given."""
    if weight_format(weight) == W_INT4:
        return dequantize_int4_cuda(weight, scale, zero, group_size, dtype, out=out)
    return dequantize_w8_cuda(weight, scale, dtype, out=out)


def dequant_linear(
    x, weight, scale, zero, group_size, bias, out_dtype, chunk_bytes: int | None = None, dequantized=None
):
    """Weight-only prefill (int8 / e4m3 rows with per-row scales, or packed int4): the weight dequantized to
    ``x.dtype`` (one Triton pass), then multiplied by cuBLAS; with ``chunk_bytes``, slice by slice of
    ``dequant_slices`` output rows through one small scratch, each slice multiplied into its columns of the
    output as soon as it is written. ``dequantized``: the whole weight already dequantized into ``x.dtype``
    (``SidePreparation``), multiplied as the one slice.

    Whole weights by default, as measured on the H200 (``bench_dequant_overlap.py``, 2026-11-30 seventh session,
    7b, 28 layers x 4 projections at 300 rows, ms): BF16 cuBLAS 6.22; int8 whole 11.53, in 32 / 16 / 8 MB slices
    13.90 / 16.62 / 26.23 (int4 11.67; 12.93 / 15.57 / 24.88). A slice does come back from the L2 cache instead
    of HBM, but a GEMM of 300 rows x one slice leaves most of the 132 SMs idle; end to end the 7b's int8 TTFT went
    from 17.3 to 22.5 ms with 16 MB slices. Dequantizing on a second stream (layer L+1's weights while layer L
    multiplies) saved nothing either (11.41): the pass already runs at ~3.7 TB/s and takes the GEMMs' bandwidth."""
    n, k = weight.shape[0], x.shape[1]
    slices = dequant_slices(n, k, chunk_bytes) if dequantized is None else [(0, n)]
    out = x.new_empty((x.shape[0], n))
    scratch = x.new_empty((slices[0][1], k)) if dequantized is None else None
    for start, stop in slices:
        zero_rows = zero[start:stop] if zero is not None else None
        w = dequantized
        if w is None:
            w = dequantize_weight(
                weight[start:stop], scale[start:stop], zero_rows, group_size, x.dtype, out=scratch[: stop - start]
            )
        if bias is None:
            torch.mm(x, w.t(), out=out[:, start:stop])
        else:
            torch.addmm(bias[start:stop].to(x.dtype), x, w.t(), out=out[:, start:stop])
    return out.to(out_dtype)


MIXED_TILE = MixedTile(64, 128, 128, 4, 4, False, True)  # measured best at most 7b W8A8 shapes (module doc)


def mixed_linear(
    x, weight, scale, zero, group_size, bias, out_dtype, tile: MixedTile | None = None, x_scale=None
) -> torch.Tensor:
    """[M, K] x [N, K] quantized weights in one Triton GEMM (``mixed_gemm_triton``): W8A8 int8 x int8, or float
    rows x 8-bit / int4 weights widened in registers (never written back as a float weight). ``tile``: a
    ``MixedTile``, ``MIXED_TILE`` by default (its TMA loads on a GPU only); K must be a multiple of BK (BK at most
    an int4 group: clipped to it)."""
    from vlmq.engine.kernels.mixed_gemm_triton import mixed_gemm_kernel

    block_m, block_n, block_k, warps, stages, swap, tma = tile or MIXED_TILE
    tma = tma and x.is_cuda
    fmt = weight_format(weight)
    m, k = x.shape
    n = weight.shape[0]
    if fmt == W_INT4:
        block_k = min(block_k, group_size)
    if k % block_k:
        raise ValueError(
            f"mixed_linear needs K ({k}) a multiple of the tile's BK ({block_k}): pass a tile whose BK divides K, "
            "or run prefill_linear's default path"
        )
    x = x.contiguous()
    y = torch.empty((m, n), dtype=out_dtype, device=x.device)
    grid = (-(-m // block_m) * -(-n // block_n),)
    descs = {}
    if tma:
        from triton.tools.tensor_descriptor import TensorDescriptor

        wk = block_k // 8 if fmt == W_INT4 else block_k
        w_bits = weight.view(torch.uint8) if fmt == W_FP8 else weight
        descs = {
            "x_desc": TensorDescriptor.from_tensor(x, [block_m, block_k]),
            "w_desc": TensorDescriptor.from_tensor(w_bits, [block_n, wk]),
        }
    mixed_gemm_kernel[grid](
        x,
        x_scale if x_scale is not None else scale,
        weight.view(torch.uint8) if fmt == W_FP8 else weight,
        scale,
        zero if zero is not None else scale,
        bias if bias is not None else scale,
        y,
        m,
        n,
        k,
        x.stride(0),
        weight.stride(0),
        scale.stride(0),
        y.stride(0),
        W_FMT=fmt,
        GROUP=group_size if fmt == W_INT4 else 1,
        HAS_ZERO=zero is not None,
        HAS_BIAS=bias is not None,
        BM=block_m,
        BN=block_n,
        BK=block_k,
        SWAP=swap,
        num_warps=warps,
        num_stages=stages,
        TMA=tma,
        **descs,
    )
    return y


SWEEP_MODES = {"w8a16": "{}-a16", "w8a8_int8": "int8-a8", "w8a8_fp8": "fp8-a8", "w4a16": "int4-g{}"}


def weight_columns(weight: torch.Tensor) -> int:
    """K of a weight in any vlmq format (packed int4 holds 8 columns an int32 word)."""
    return weight.shape[1] * (8 if weight_format(weight) == W_INT4 else 1)


def measured_tile(kind: str, weight: torch.Tensor, group_size: int, m: int) -> tuple | None:
    """The Triton GEMM tile the sweep measured faster than the library path for this scheme and weight shape, at
    the measured row count nearest ``m`` if that is within a factor of 2 of ``m`` (beyond, unmeasured: the
    library path); None where the library path won or nothing was measured."""
    if kind == "bf16":
        return None
    fmt = weight_format(weight)
    mode = SWEEP_MODES[kind].format(group_size if fmt == W_INT4 else "fp8" if fmt == W_FP8 else "int8")
    n, k = weight.shape[0], weight_columns(weight)
    measured = measured_prefill().get((mode, n, k), [])
    near = min(measured, key=lambda entry: abs(math.log(entry[0] / m)), default=None)
    return near[1] if near is not None and near[0] / 2 <= m <= 2 * near[0] else None


def cutlass_runs(x: torch.Tensor, weight: torch.Tensor, group_size: int = 0) -> bool:
    """Whether a CUTLASS GEMM can run this prefill on a GPU where the library is built: int8 or packed int4 weights
    with bf16 rows (the mixed-input GEMM: K a multiple of 64, int4 groups of the 64-deep K tile), or e4m3 x e4m3 /
    int8 x int8 (W8A8: K a multiple of 16); N a multiple of 8 (the TMA loads and stores)."""
    if not x.is_cuda or weight.shape[0] % 8:
        return False
    if x.dtype in W8A8_TYPES.values():
        if weight.dtype != x.dtype or x.shape[1] % 16:
            return False
    elif weight.dtype not in (torch.int8, torch.int32) or x.dtype != torch.bfloat16:
        return False
    elif x.shape[1] % 64 or (weight.dtype == torch.int32 and group_size % 64):
        return False
    return unavailable_reason(x.device) is None


def cutlass_linear(
    x, weight, scale, zero, group_size, bias, out_dtype, tile: int | None = None, x_scale=None, terms=None
) -> torch.Tensor:
    """A prefill through CUTLASS (``cutlass_gemm``): the mixed-input GEMM for int8 rows with per-row scales or
    packed int4 (its group terms made at the call, in one launch: ``w4_group_terms``, unless given as ``terms``);
    the W8A8 GEMM for e4m3 or int8 rows (``x_scale`` per token). ``terms`` a ``ShuffledInt4`` (made ahead): the
    tile's twin over the weight in CUTLASS's shuffled layout, the same product bit for bit."""
    if x.dtype in W8A8_TYPES.values():
        return w8a8_gemm(x, weight, scale, x_scale, bias, tile).to(out_dtype)
    if isinstance(terms, ShuffledInt4):
        twin = W4_SHUFFLED_TWINS[tile]
        return w4a16_gemm(x, terms.weight, scale, zero, group_size, bias, twin, terms.terms, True).to(out_dtype)
    if weight_format(weight) == W_INT4:
        return w4a16_gemm(x, weight, scale, zero, group_size, bias, tile, terms).to(out_dtype)
    return w8a16_gemm(x, weight, scale, bias, tile).to(out_dtype)


PREFILL_GEMMS = {  # kind -> (CUTLASS's GEMM, the library path where it does not run)
    "weight-only": ("mixed-input", "dequantize+cublas"),
    "w8a8": ("w8a8", "scaled_mm (fp8) or triton tiles (int8)"),
}


def prefill_gemm_note(device: torch.device, kind: str) -> str:
    """How a model's quantized prefill GEMMs run on ``device`` (speed records carry it; ``kind`` a key of
    ``PREFILL_GEMMS``): CUTLASS's where the tile table measured it faster, or the library path and why."""
    gemm, library = PREFILL_GEMMS[kind]
    if device.type != "cuda":
        return "reference (no CUDA device)"
    reason = unavailable_reason(device)
    if reason is not None:
        return f"{library} ({reason})"
    return f"cutlass {gemm} where the tile table measured it faster, else {library}"


def _library_shapes_ok(n: int, k: int) -> bool:
    return n % 16 == 0 and k % 16 == 0


def generic_tile_config(weight: torch.Tensor, m: int, k: int, group_size: int, tile: tuple):
    """The generic kernel's launch for a measured prefill tile (block_n, block_k, stages, swap, warps, block_m,
    K slices) at ``m`` rows."""
    block_n, block_k, stages, swap, warps, block_m, split = tile
    cfg = dot_config(
        weight_format(weight),
        m,
        weight.shape[0],
        k,
        group_size,
        block_n=block_n,
        block_k=block_k,
        stages=stages,
        swap=swap,
        block_m=block_m,
        split=split,
    )
    return cfg._replace(num_warps=warps)


class PrefillRoute(NamedTuple):
    """How ``prefill_linear`` runs a weight at a number of rows: ``path`` is "cutlass", "mixed", "generic" (a
    measured tile of gemv.py's ``dot`` kernel), or one of ``PATHS`` ("cublas", "dequant", "triton", "int_mm",
    "scaled_mm"); ``tile`` the measured tile where one runs."""

    path: str
    tile: object = None


def prefill_route(x: torch.Tensor, weight: torch.Tensor, group_size: int, path: str | None = None) -> PrefillRoute:
    """The route of ``prefill_linear(x, weight, ...)``: a tile the table measured faster for the scheme, shape and
    about this many rows (``measured_tile``), else ``path`` or the scheme's default (``PREFILL_PATH``). Reads
    only x's shape, dtype and device."""
    kind = scheme(weight, x)
    n, k = weight.shape[0], x.shape[1]
    tile = measured_tile(kind, weight, group_size, x.shape[0]) if path is None else None
    if isinstance(tile, CutlassTile):
        if cutlass_runs(x, weight, group_size):
            return PrefillRoute("cutlass", tile.index)
        tile = None  # the library is not built here (or not for this shape): the library path
    if isinstance(tile, MixedTile) and k % tile.block_k == 0:
        return PrefillRoute("mixed", tile)
    if tile is not None and not isinstance(tile, MixedTile):
        return PrefillRoute("generic", tile)
    path = path or PREFILL_PATH[kind]
    paths = prefill_paths(kind, weight_format(weight))
    if path not in paths:
        raise ValueError(f"prefill path {path!r} is not one of {paths} for {kind} with {weight.dtype} weights")
    if kind == "bf16" or path in ("mixed", "cutlass"):
        return PrefillRoute(path)
    if path == "triton" or not _library_shapes_ok(n, k):
        return PrefillRoute("triton")
    return PrefillRoute(path)


def prefill_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    scale: torch.Tensor | None,
    zero: torch.Tensor | None,
    group_size: int,
    bias: torch.Tensor | None,
    x_scale: torch.Tensor | None,
    out_dtype: torch.dtype,
    path: str | None = None,
) -> torch.Tensor:
    """[M, K] x [N, K] weights (any vlmq format; W8A8 activations already quantized, ``x_scale`` per row), by
    ``prefill_route``; a dequantized weight or int4 group terms made ahead (``SidePreparation``) are used as made."""
    route = prefill_route(x, weight, group_size, path)
    made = _prepared.get(prepared_key(weight))
    n, k = weight.shape[0], x.shape[1]
    if route.path == "cutlass":
        return cutlass_linear(x, weight, scale, zero, group_size, bias, out_dtype, route.tile, x_scale, terms=made)
    if route.path == "mixed":
        return mixed_linear(x, weight, scale, zero, group_size, bias, out_dtype, route.tile, x_scale=x_scale)
    if route.path in ("generic", "triton"):
        if route.path == "generic":
            cfg = generic_tile_config(weight, x.shape[0], k, group_size, route.tile)
        else:
            cfg = dot_config(weight_format(weight), x.shape[0], n, k, group_size)
        return gemv(x, weight, scale, zero, group_size, bias, x_scale=x_scale, out_dtype=out_dtype, config=cfg)
    if route.path == "cublas":
        if scale is not None:  # per-row scales on float weights (the 8-bit op's contract, unit in projections.py)
            return w8_linear_dequant_mm(x, weight, scale, None, bias, out_dtype)
        return F.linear(x.to(weight.dtype), weight, bias).to(out_dtype)
    if route.path == "dequant":
        return dequant_linear(x, weight, scale, zero, group_size, bias, out_dtype, dequantized=made)
    if route.path == "int_mm":
        y = torch._int_mm(x.contiguous(), weight.t()).float() * x_scale.float().view(-1, 1) * scale.float().view(1, -1)
        return (y + bias.float() if bias is not None else y).to(out_dtype)
    assert weight_format(weight) == W_FP8 and route.path == "scaled_mm"
    y = torch._scaled_mm(
        x.contiguous(),
        weight.t(),
        scale_a=x_scale.float().view(-1, 1).contiguous(),
        scale_b=scale.float().view(1, -1).contiguous(),
        out_dtype=torch.bfloat16,
        bias=bias.to(torch.bfloat16) if bias is not None else None,
    )
    return y.to(out_dtype)


# ----- weight-side work one layer ahead ---------------------------------------------------------------
# "side" (default: 7b int4_wo TTFT 0.978x on the H200): SidePreparation; "shuffle": that, with the int4 CUTLASS
# weights also made in the shuffled layout (their tiles' twins 0.84-0.88x on the 7b gate/up and down, but the 7b
# int4_wo first token 1.239x side's on the H200: the shuffling outweighs them; an A/B setting); "off"
PREPARE_ENV = "VLMQ_PREFILL_PREPARE"
PREPARE_MODES = ("off", "side", "shuffle")
PREPARE_MAX_BYTES = 64 << 20  # a dequantized weight made ahead at most this large (two layers' are held)
_prepared: dict[tuple, object] = {}  # prepared_key(weight) -> what SidePreparation made from it for this layer


def prefill_prepare_mode() -> str:
    value = os.environ.get(PREPARE_ENV, "side").strip() or "side"
    if value not in PREPARE_MODES:
        raise VlmqError(f"${PREPARE_ENV}={value!r}: use one of {', '.join(PREPARE_MODES)} (unset: side)")
    return value


class ShuffledInt4(NamedTuple):
    """What ``SidePreparation`` makes ahead for an int4 weight on a CUTLASS tile with a shuffled twin
    (``$VLMQ_PREFILL_PREPARE=shuffle``): its group terms and the weight in CUTLASS's shuffled layout."""

    terms: tuple[torch.Tensor, torch.Tensor]
    weight: torch.Tensor


def prepared_key(weight: torch.Tensor) -> tuple:
    return (weight.data_ptr(), tuple(weight.shape), weight.dtype)


@contextlib.contextmanager
def made_ahead(made: dict):
    """Inside, ``prefill_linear`` takes ``made`` ({``prepared_key(weight)``: its dequantized weight, or its int4
    group terms}) as made instead of making them at the call."""
    _prepared.update(made)
    try:
        yield
    finally:
        for key in made:
            _prepared.pop(key, None)


def weight_side_work(route: PrefillRoute, weight: torch.Tensor, shuffle: bool = False) -> str | None:
    """What ``route`` makes from the weight alone before its GEMM at every call: "dequantize" (the whole bf16
    weight, the ``dequant`` route), "terms" (an int4 CUTLASS GEMM's group terms), or None; with ``shuffle``,
    "shuffle" for an int4 CUTLASS tile with a shuffled twin (its group terms and the shuffled weight) where the
    weight fits the shuffled layout (``shuffle_fits``)."""
    if route.path == "dequant":
        return "dequantize"
    if route.path == "cutlass" and weight_format(weight) == W_INT4:
        twin = shuffle and route.tile in W4_SHUFFLED_TWINS and shuffle_fits(weight.shape[0], weight_columns(weight))
        return "shuffle" if twin else "terms"
    return None


def work_ahead(
    layers: list[list[tuple]], rows: int, dtype: torch.dtype, device: torch.device, shuffle: bool = False
) -> list[list[tuple]]:
    """Per layer, [(position, weight, scale, zero, group_size, what)] for the weights whose prefill route at ``rows``
    prompt rows makes something from the weight alone (``weight_side_work``), from each layer's [(weight, scale,
    zero, group_size)]: none at decode-sized prompts (``GEMV_MAX_M`` rows or fewer: the GEMV runs), and no
    dequantized copy above ``PREPARE_MAX_BYTES`` (made at the call as before)."""
    if rows <= GEMV_MAX_M:
        return [[] for _ in layers]
    probe = torch.empty(1, dtype=dtype, device=device)
    work = []
    for layer in layers:
        items = []
        for position, (weight, scale, zero, group) in enumerate(layer):
            k = weight_columns(weight)
            what = weight_side_work(prefill_route(probe.expand(rows, k), weight, group), weight, shuffle)
            if what is not None and not (what == "dequantize" and weight.shape[0] * k * 2 > PREPARE_MAX_BYTES):
                items.append((position, weight, scale, zero, group, what))
        work.append(items)
    return work


class SidePreparation:
    """A weight-only prefill's weight-side work one layer ahead, on a side stream (``$VLMQ_PREFILL_PREPARE=side``).

    Per call ``prefill_linear`` dequantizes the weights of the ``dequant`` route (q/k/v and o of the 7b int4 table)
    and makes the group terms of an int4 CUTLASS GEMM (gate/up, down): 539 and 173 us of the 7b int4_wo first token
    on the H200 (fifteenth session's profile), each on the critical path though it reads only weights. Here they
    are made for layer L + 1 on a side stream while layer L runs, into one of two scratch sets, and
    ``prefill_linear`` takes them as made: same kernels, same values. Whether CUTLASS's compute-bound mainloop
    leaves them room is what ``benchmarks/bench_dequant_overlap.py``'s ``engine+side`` measures: the 7b int4 layer
    mix 9.14 -> 8.80 ms, the replayed first token 14.38 -> 14.07 ms (H200, twenty-first session, call 1), hence on
    by default (``$VLMQ_PREFILL_PREPARE=off`` turns it off). Scratch is kept across prefills (captured graphs
    replay into it), one buffer pair per (position, kind, shape); a weight whose bf16 copy exceeds
    ``PREPARE_MAX_BYTES`` is made at the call as before. ``shuffle`` (``$VLMQ_PREFILL_PREPARE=shuffle``): the int4
    CUTLASS weights are also made in the shuffled layout (``ShuffledInt4``; two copies of each held)."""

    def __init__(self, device: torch.device, shuffle: bool = False):
        self.device, self.shuffle = device, shuffle
        self.side = torch.cuda.Stream(device)
        self.scratch: dict[tuple, list] = {}

    def _buffers(self, position: int, what: str, weight, scale, dtype) -> list:
        n, k = weight.shape[0], weight_columns(weight)
        key = (position, what, n, k, dtype)
        if key not in self.scratch:
            if what == "dequantize":
                self.scratch[key] = [torch.empty((n, k), dtype=dtype, device=self.device) for _ in range(2)]
            elif what == "shuffle":
                self.scratch[key] = [ShuffledInt4(self._terms(scale, n), torch.empty_like(weight)) for _ in range(2)]
            else:
                self.scratch[key] = [self._terms(scale, n) for _ in range(2)]
        return self.scratch[key]

    def _terms(self, scale, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Scratch for an int4 weight's [groups, N] bf16 group terms (``w4_group_terms``'s ``out``)."""
        return tuple(torch.empty((scale.shape[1], n), dtype=torch.bfloat16, device=self.device) for _ in range(2))

    def plan(self, layers: list[list[tuple]], rows: int, dtype: torch.dtype) -> list[list[tuple]]:
        """``work_ahead``'s items, each with its scratch pair: (weight, scale, zero, group_size, what, pair)."""
        return [
            [(w, s, z, g, what, self._buffers(pos, what, w, s, dtype)) for pos, w, s, z, g, what in layer]
            for layer in work_ahead(layers, rows, dtype, self.device, self.shuffle)
        ]

    def start(self, work: list[list[tuple]], dtype: torch.dtype) -> PreparedLayers:
        return PreparedLayers(self.side, torch.cuda.current_stream(self.device), work, dtype)


class PreparedLayers:
    """One prefill's ``SidePreparation``: layer i runs inside ``layer(i)`` (which starts layer i + 1's work, waits
    for layer i's and hands it to ``prefill_linear``); ``finish()`` joins the side stream (also after a failure)."""

    def __init__(self, side, main, work: list[list[tuple]], dtype: torch.dtype):
        self.side, self.main, self.work, self.dtype = side, main, work, dtype
        self.ready = [torch.cuda.Event() for _ in work]
        self.freed = [torch.cuda.Event() for _ in work]
        self.made: list[dict] = [{} for _ in work]
        self.side.wait_stream(main)
        self._fill(0)

    def _fill(self, i: int) -> None:
        with torch.cuda.stream(self.side):
            if i >= 2:
                self.side.wait_event(self.freed[i - 2])  # the scratch set's last reader: layer i - 2
            for weight, scale, zero, group, what, pair in self.work[i]:
                out = pair[i % 2]
                if what == "dequantize":
                    made = dequantize_weight(weight, scale, zero, group, self.dtype, out=out)
                elif what == "shuffle":
                    made = ShuffledInt4(w4_group_terms(scale, zero, out=out.terms), w4_shuffle(weight, out=out.weight))
                else:
                    made = w4_group_terms(scale, zero, out=out)
                self.made[i][prepared_key(weight)] = made
            self.ready[i].record(self.side)

    @contextlib.contextmanager
    def layer(self, i: int):
        if i + 1 < len(self.work):
            self._fill(i + 1)
        self.main.wait_event(self.ready[i])
        with made_ahead(self.made[i]):
            yield
        self.freed[i].record(self.main)  # layer i's scratch set may be refilled (for layer i + 2)

    def finish(self) -> None:
        self.main.wait_stream(self.side)


def linear_cuda(x, weight, scale, zero, group_size, bias, x_scale, out_dtype) -> torch.Tensor:
    """The CUDA kernel of the linear ops (``vlmq::w8_linear``, ``vlmq::w4a16_linear``; arguments as
    ``prefill_linear``'s): gemv.py's decode kernels up to ``GEMV_MAX_M`` rows, ``prefill_linear``'s tensor-core
    GEMMs beyond."""
    if x.shape[0] > GEMV_MAX_M:
        return prefill_linear(x, weight, scale, zero, group_size, bias, x_scale, out_dtype)
    return gemv(x, weight, scale, zero, group_size, bias, x_scale=x_scale, out_dtype=out_dtype)
