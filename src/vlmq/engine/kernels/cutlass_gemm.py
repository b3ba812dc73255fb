"""Prefill GEMMs from CUTLASS on Hopper, built on demand: weight-only (the mixed-input warp-specialised mainloop)
and W8A8 (FP8 and int8 tensor cores, scales in the epilogue).

Why: a W8A16 first token that dequantizes every weight to bf16 and then calls cuBLAS pays a whole extra pass over
the weights (the 7b's 6.5 GB read + 13 GB written, ~5 ms of a 17 ms first token on the H200), and vlmq's own
Triton GEMM that widens int8 in registers lost to that pass (eleventh session: the widening is not hidden behind
the MMAs without warp specialisation). CUTLASS's ``sm90_mma_tma_gmma_rs_warpspecialized_mixed_input`` mainloop
is the library kernel that does this (vLLM's Machete is built on the same design).

``cutlass/mixed_gemm.cu`` wraps it behind a C ABI, ``cutlass/w8a8_gemm.cu`` the W8A8 GEMMs (e4m3 x e4m3 and
int8 x int8, per-token and per-channel scales and the bias in an epilogue visitor tree, tiles for a prompt's few
hundred rows where cuBLASLt's FP8 kernel behind ``torch._scaled_mm`` pads 300 rows to 384); ``build_library``
compiles both with ``nvcc`` (in parallel) and the CUTLASS headers of the ``nvidia-cutlass`` package (``pip install
--no-deps nvidia-cutlass``) into one shared library named by the sources' digest, loaded with ctypes (no libtorch
build: it works beside any torch). Where the library is missing, ``unavailable_reason`` says how to build it and
the engine keeps its library paths (dequantize-then-cuBLAS, ``_scaled_mm``, its Triton W8A8 tiles).

Arithmetic: int8, out = (x @ q^T) * scale + bias in fp32 (int8 values widened to bf16 exactly, fp32 accumulation),
rounded once to bf16: ``w8.w8_linear_reference``'s arithmetic up to summation order; int4, each weight widened as
``scale * (q + 8) + zero_term`` in one bf16 FMA (``w4_group_terms``). Which shapes take it: the tile table's
``cutlass`` entries (``prefill.prefill_linear``), where it measured faster than dequantize-then-cuBLAS on the H200
(docs/benchmarks.md, twelfth session: a 7b int8 layer at 300 rows 313.5 us against 424.6; fifteenth session, with
tiles 192 / 160 tokens wide and stream-K: int8 308.2 against 425.4, int4 339.6 against 417.0, cuBLAS BF16 254.9).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import torch

SOURCES = tuple(Path(__file__).with_name("cutlass") / name for name in ("mixed_gemm.cu", "w8a8_gemm.cu", "w4_gemv.cu"))
HEADERS = (Path(__file__).with_name("cutlass") / "gemm_common.cuh",)  # what both include (in the digest too)
LIB_ENV = "VLMQ_CUTLASS_LIB"  # a built library's path (overrides the cache location)
CUTLASS_ENV = "CUTLASS_DIR"  # a CUTLASS source tree (include/, tools/util/include/); default: nvidia-cutlass's copy
BUILD_HINT = "python -m vlmq.engine.kernels.cutlass_build --build (needs nvcc, `pip install --no-deps nvidia-cutlass`)"
ERRORS = {
    1: "unknown tile",
    2: "workspace too small",
    3: "shape not supported (K a multiple of 16 and N of 8 needed; int4: the group a multiple of the tile's K depth)",
    4: "initialisation failed",
    5: "launch failed",
    6: "CUDA error after the launch",
}
# vlmq_w4_gemv's parameters (cutlass/w4_gemv.cu): config, x, w, scale, zero, group shift, bias, residual, out, M, N,
# K, 5 row strides, act, slices, part, sems, pdl, stream -- every one typed: an untyped pointer past the list goes as
# a 32-bit int (the stream handle so cut crashed the process on the H200)
W4_GEMV_ARGTYPES = [
    *(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int),
    *(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int),
    *[ctypes.c_longlong] * 5,
    *(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p),
]
WORKSPACE_BYTES = 32 << 20  # stream-K tiles' partial sums (a 128 x 192 fp32 tile per SM: 13 MB); others need none


def source_digest() -> str:
    digest = hashlib.sha256()
    for source in SOURCES + HEADERS:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def library_path() -> Path:
    """Where the built library is: ``$VLMQ_CUTLASS_LIB``, else the user cache, named by the sources' digest (a
    library built from other source is never loaded)."""
    if os.environ.get(LIB_ENV):
        return Path(os.environ[LIB_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vlmq" / "cutlass"
    return cache / f"libvlmq_mixed_gemm-{source_digest()}.so"


def cutlass_root() -> Path | None:
    """A CUTLASS source tree: ``$CUTLASS_DIR``, or the one the ``nvidia-cutlass`` package installs (found without
    importing it: its import wants cuda-python)."""
    if os.environ.get(CUTLASS_ENV):
        return Path(os.environ[CUTLASS_ENV])
    spec = importlib.util.find_spec("cutlass_library")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "source"
    return root if (root / "include" / "cutlass").is_dir() else None


def nvcc_command(nvcc: str, root: Path, out: Path, source: Path = SOURCES[0]) -> list[str]:
    """The compile line of one source into the object ``out``: sm_90a (wgmma and TMA need the arch-specific
    target), position-independent for the shared library."""
    return [
        nvcc,
        "-std=c++17",
        "-O3",
        "-DNDEBUG",
        "-arch=sm_90a",
        "--expt-relaxed-constexpr",
        "-c",
        "-Xcompiler=-fPIC",
        f"-I{root / 'include'}",
        f"-I{root / 'tools' / 'util' / 'include'}",
        str(source),
        "-o",
        str(out),
    ]


def link_command(nvcc: str, objects: list[Path], out: Path) -> list[str]:
    """The link line: the C++ runtime linked statically so the library loads on machines with an older libstdc++."""
    return [
        nvcc,
        "-shared",
        "-Xcompiler=-static-libstdc++",
        "-Xcompiler=-static-libgcc",
        *map(str, objects),
        "-o",
        str(out),
    ]


def _first_error(stderr: str) -> str:
    return next((line for line in stderr.splitlines() if "error" in line), stderr.strip()[-300:])


def build_library(out: Path | None = None, nvcc: str | None = None) -> Path:
    """Compile the sources (each on its own core: about four minutes on the 2-core machine) and link them into
    ``out`` (default ``library_path()``); a failed compile stops the others and leaves no object or library."""
    nvcc = nvcc or shutil.which("nvcc") or str(Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / "nvcc")
    if not Path(nvcc).exists() and shutil.which(nvcc) is None:
        raise RuntimeError(f"nvcc not found ({nvcc}): install the CUDA toolkit or set CUDA_HOME")
    root = cutlass_root()
    if root is None:
        raise RuntimeError(f"CUTLASS headers not found: `pip install --no-deps nvidia-cutlass` or set {CUTLASS_ENV}")
    out = Path(out or library_path())
    out.parent.mkdir(parents=True, exist_ok=True)
    objects = [out.with_name(f"{out.name}.{source.stem}.o") for source in SOURCES]
    partial = out.with_name(out.name + ".partial")
    compiles = [
        subprocess.Popen(nvcc_command(nvcc, root, obj, source), stderr=subprocess.PIPE, text=True)
        for source, obj in zip(SOURCES, objects)
    ]
    try:
        for source, proc in zip(SOURCES, compiles):
            _, stderr = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"nvcc failed on {source.name} ({proc.returncode}): {_first_error(stderr)}")
        done = subprocess.run(link_command(nvcc, objects, partial), capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"nvcc failed linking ({done.returncode}): {_first_error(done.stderr)}")
    finally:
        for proc in compiles:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        for obj in objects:
            obj.unlink(missing_ok=True)
    partial.replace(out)  # a cut build never leaves a library that looks finished
    return out


@functools.cache
def _library() -> ctypes.CDLL | None:
    path = library_path()
    if not path.exists():
        return None
    lib = ctypes.CDLL(str(path))
    tail = [ctypes.c_int] * 3 + [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]  # M, N, K, workspace, bytes, stream
    operands = {  # after the tile: x, w, the format's operands, bias, out
        "w8a16": [ctypes.c_void_p] * 5,
        "w4a16": [ctypes.c_void_p] * 4 + [ctypes.c_int] + [ctypes.c_void_p] * 2,
        "w8a8_fp8": [ctypes.c_void_p] * 6,
        "w8a8_int8": [ctypes.c_void_p] * 6,
    }
    operands["w4a16s"] = operands["w4a16"]  # one C ABI for both (VLMQ_W4_GEMM_ABI)
    needed = ("vlmq_w4_gemv", "vlmq_w4_shuffle")
    if not all(hasattr(lib, f"vlmq_{fmt}_gemm") for fmt in operands) or not all(hasattr(lib, f) for f in needed):
        return None  # built from an older source (a $VLMQ_CUTLASS_LIB kept across a change): rebuild it
    for fmt, args in operands.items():
        getattr(lib, f"vlmq_{fmt}_gemm").restype = ctypes.c_int
        getattr(lib, f"vlmq_{fmt}_gemm").argtypes = [ctypes.c_int] + args + tail
    for fmt in FORMATS:
        getattr(lib, f"vlmq_{fmt}_tiles").restype = ctypes.c_int
        getattr(lib, f"vlmq_{fmt}_tile_shape").restype = ctypes.c_int
        getattr(lib, f"vlmq_{fmt}_tile_shape").argtypes = [ctypes.c_int] + [ctypes.POINTER(ctypes.c_int)] * 4
    lib.vlmq_w4_gemv.restype = ctypes.c_int
    lib.vlmq_w4_gemv.argtypes = W4_GEMV_ARGTYPES
    lib.vlmq_w4_shuffle.restype = ctypes.c_int
    lib.vlmq_w4_shuffle.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    lib.vlmq_w4_gemv_configs.restype = ctypes.c_int
    lib.vlmq_w4_gemv_config_shape.restype = ctypes.c_int
    lib.vlmq_w4_gemv_config_shape.argtypes = [ctypes.c_int] + [ctypes.POINTER(ctypes.c_int)] * 4
    first = _ask_tile_shape(lib, "w8a16", 0)
    if first is None or first[3] == 0:
        return None  # an older library's tile_shape does not report the K depth: rebuild it
    return lib


def unavailable_reason(device: torch.device | None = None) -> str | None:
    """None where the CUTLASS GEMMs can run on ``device`` (default: the current CUDA device), else why not and
    what to do."""
    if not torch.cuda.is_available():
        return "no CUDA device"
    if torch.cuda.get_device_capability(device) != (9, 0):
        return "the CUTLASS prefill GEMMs are built for Hopper (sm_90a) only"
    if _library() is None:
        return f"CUTLASS prefill GEMMs not built, or built from older source ({library_path()}): {BUILD_HINT}"
    return None


def tiles(fmt: str = "w8a16") -> int:
    """How many tiles the built library offers for ``fmt`` (one of ``FORMATS``; a GEMM's ``tile`` is below it)."""
    lib = _library()
    return getattr(lib, f"vlmq_{fmt}_tiles")() if lib is not None else 0


def _ask_tile_shape(lib, fmt: str, tile: int) -> tuple[int, ...] | None:
    dims = [ctypes.c_int(0) for _ in range(4)]
    if getattr(lib, f"vlmq_{fmt}_tile_shape")(tile, *(ctypes.byref(d) for d in dims)):
        return None
    return tuple(d.value for d in dims)


@functools.cache
def tile_shape(tile: int, fmt: str = "w8a16") -> tuple[int, int, int, int]:
    """(weight rows, token rows, CTAs a cluster along the tokens, K depth) of a tile's CTA; an int4 tile runs groups
    that are a multiple of its K depth."""
    lib = _library()
    shape = _ask_tile_shape(lib, fmt, tile) if lib is not None else None
    if shape is None:
        raise ValueError(f"no CUTLASS {fmt} tile {tile} (the library has {tiles(fmt)})")
    return shape


FORMATS = ("w8a16", "w4a16", "w4a16s", "w8a8_fp8", "w8a8_int8")
# which tile an explicit path="cutlass" call takes when tiles pad the rows equally: for w8a16 an order set before the
# tiles were measured (call 2 of the twelfth session found 128x64 slow), for w4a16 a 7b layer at 300 rows with one
# tile for its four projections (fifteenth session, H200, us: 10 363.2, 0 393.7, 5 402.1, 3 409.3, ... 1 613.4); the
# engine runs the tile table's tile per projection
TILE_PREFERENCE = {
    "w8a16": (1, 6, 0, 5, 2, 3, 4),
    "w4a16": (10, 0, 5, 3, 7, 6, 8, 4, 9, 2, 1),
    "w4a16s": (0, 1, 2, 3),  # w4a16's 3, 10, 0, 6 shuffled (W4_SHUFFLED_TWINS); the engine picks twins, not these
    "w8a8_fp8": (2, 1, 6, 4, 7, 5, 0, 3),
    "w8a8_int8": (1, 4, 3, 5, 0, 2),
}


def pick_tile(
    m: int, shapes: dict[int, tuple[int, int, int, int]] | None = None, fmt: str = "w8a16", group_size: int = 0
) -> int:
    """The tile for ``m`` token rows: least padding of the rows to whole tiles (MMAs that multiply nothing), then
    ``TILE_PREFERENCE``; with a ``group_size`` (int4), only tiles whose K depth divides it. ``shapes``: {tile:
    tile_shape(tile)} (default: the built library's). Only the preference's tiles where it names any: the 16-token
    decode tiles pad least at every row count but are the engine's only where the tile table measured them."""
    shapes = shapes if shapes is not None else {t: tile_shape(t, fmt) for t in range(tiles(fmt))}
    if group_size:
        shapes = {t: shape for t, shape in shapes.items() if group_size % shape[3] == 0}
    order = {t: i for i, t in enumerate(TILE_PREFERENCE[fmt])}
    shapes = {t: shape for t, shape in shapes.items() if t in order} or shapes

    def padded(tile: int) -> int:
        rows = shapes[tile][1] * shapes[tile][2]  # a cluster's CTAs are launched in whole clusters
        return -(-m // rows) * rows

    return min(shapes, key=lambda t: (padded(t), order.get(t, len(order))))


def _run(
    fmt: str,
    x: torch.Tensor,
    weight: torch.Tensor,
    operands: list,
    bias: torch.Tensor | None,
    tile,
    group_size: int = 0,
) -> torch.Tensor:
    """Launch ``vlmq_<fmt>_gemm``: (tile, x, weight, *operands, bias, out, M, N, K, workspace, its bytes, stream)."""
    lib = _library()
    if lib is None:
        raise RuntimeError(f"CUTLASS prefill GEMMs not built: {BUILD_HINT}")
    x, weight = x.contiguous(), weight.contiguous()
    bias = bias.to(torch.bfloat16).contiguous() if bias is not None else None
    m, k = x.shape
    n = weight.shape[0]
    tile = pick_tile(m, fmt=fmt, group_size=group_size) if tile is None else tile
    out = torch.empty((m, n), dtype=torch.bfloat16, device=x.device)
    workspace = _workspace(x.device)
    pointers = [t.data_ptr() if isinstance(t, torch.Tensor) else t for t in operands]
    code = getattr(lib, f"vlmq_{fmt}_gemm")(
        tile,
        x.data_ptr(),
        weight.data_ptr(),
        *pointers,
        bias.data_ptr() if bias is not None else None,
        out.data_ptr(),
        m,
        n,
        k,
        workspace.data_ptr(),
        workspace.numel(),
        torch.cuda.current_stream(x.device).cuda_stream if x.is_cuda else None,
    )
    if code:
        raise RuntimeError(f"CUTLASS {fmt} GEMM [{m}, {k}] x [{n}, {k}] tile {tile}: {ERRORS.get(code, code)}")
    return out


def w8a16_gemm(
    x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None, tile: int | None = None
) -> torch.Tensor:
    """[M, K] bf16 x [N, K] int8 weights with per-row fp32 ``scale`` (+ bf16 ``bias``) → [M, N] bf16, on the current
    stream (capturable in CUDA graphs); ``tile`` by default ``pick_tile(M)``."""
    if x.dtype != torch.bfloat16 or weight.dtype != torch.int8:
        raise ValueError(f"w8a16_gemm takes bf16 rows and int8 weights, got {x.dtype} and {weight.dtype}")
    return _run("w8a16", x, weight, [scale.float().contiguous()], bias, tile)


W8A8_TYPES = {"w8a8_fp8": torch.float8_e4m3fn, "w8a8_int8": torch.int8}


def w8a8_gemm(
    x: torch.Tensor,
    weight: torch.Tensor,
    scale: torch.Tensor,
    x_scale: torch.Tensor,
    bias: torch.Tensor | None,
    tile: int | None = None,
) -> torch.Tensor:
    """[M, K] x [N, K], both e4m3 or both int8, per-token fp32 ``x_scale`` [M] and per-channel ``scale`` [N] (+ bf16
    ``bias``) → [M, N] bf16 = ((x @ w^T) * scale * x_scale) + bias in fp32, rounded once (``w8_linear_reference``'s
    order); on the current stream (capturable in CUDA graphs); ``tile`` by default ``pick_tile(M)``."""
    fmt = next((f for f, dtype in W8A8_TYPES.items() if x.dtype == weight.dtype == dtype), None)
    if fmt is None:
        raise ValueError(f"w8a8_gemm takes e4m3 x e4m3 or int8 x int8, got {x.dtype} x {weight.dtype}")
    scales = [scale.float().contiguous(), x_scale.float().contiguous()]
    return _run(fmt, x, weight, scales, bias, tile)


def w4_group_terms_reference(scale: torch.Tensor, zero: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The [K / group, N] bf16 (scale, zero term) CUTLASS's ScaleWithZero mode reads for w4's [N, K / group] scale
    and int8 zero points: w = scale * (q + 8) + zero_term, zero_term = -(zero + 8) * scale rounded to bf16 (exact
    for symmetric packs, -8 * scale; with zero points one bf16 rounding of the zero term apart from w4's reference
    ``(q - zero) * scale``)."""
    offset = (zero.float() + 8) if zero is not None else 8.0
    return scale.bfloat16().t().contiguous(), (-offset * scale.float()).bfloat16().t().contiguous()


def w4_group_terms(
    scale: torch.Tensor, zero: torch.Tensor | None, out: tuple[torch.Tensor, torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``w4_group_terms_reference`` in one Triton launch (a GPU, or Triton's interpreter), else the reference; into
    ``out`` (two [K / group, N] bf16 tensors) if given. Made at every int4 call: eager PyTorch took ~7 launches,
    16-26 us a projection (7b gate/up, H200, 2026-12-01 profile: ~0.75 ms of the 7b int4 first token)."""
    if not (scale.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"):
        terms = w4_group_terms_reference(scale, zero)
        return terms if out is None else tuple(o.copy_(t) for o, t in zip(out, terms, strict=True))
    from vlmq.engine.kernels.gemv_triton import w4_group_terms_kernel

    n, groups = scale.shape
    if out is None:
        out = tuple(torch.empty(groups, n, dtype=torch.bfloat16, device=scale.device) for _ in range(2))
    scale_t, zero_t = out
    block_n, block_g = 64, 32
    grid = (-(-n // block_n), -(-groups // block_g))
    scale, zero = scale.contiguous(), zero.contiguous() if zero is not None else None
    w4_group_terms_kernel[grid](
        scale, zero if zero is not None else scale, scale_t, zero_t, n, groups, zero is not None, block_n, block_g
    )
    return scale_t, zero_t


def w4a16_gemm(
    x: torch.Tensor,
    packed: torch.Tensor,
    scale: torch.Tensor,
    zero: torch.Tensor | None,
    group_size: int,
    bias: torch.Tensor | None,
    tile: int | None = None,
    terms: tuple[torch.Tensor, torch.Tensor] | None = None,
    shuffled: bool = False,
) -> torch.Tensor:
    """[M, K] bf16 x w4's packed int4 [N, K / 8] (group scales, optional int8 zero points) → [M, N] bf16 (+ bias),
    on the current stream; ``terms``: ``w4_group_terms(scale, zero)`` if already made. ``shuffled``: the weights are
    ``w4_shuffle``'s and ``tile`` one of the ``w4a16s`` tiles (the same product, bit for bit, the int4 tile widened
    from the shuffled layout)."""
    if x.dtype != torch.bfloat16 or packed.dtype != torch.int32:
        raise ValueError(f"w4a16_gemm takes bf16 rows and int32-packed int4 weights, got {x.dtype}, {packed.dtype}")
    scale_t, zero_t = terms if terms is not None else w4_group_terms(scale, zero)
    fmt = "w4a16s" if shuffled else "w4a16"
    return _run(fmt, x, packed, [scale_t, zero_t, group_size], bias, tile, group_size)


# w4a16 tile -> the w4a16s tile of the same shape, schedule and cluster over shuffled weights (cutlass/mixed_gemm.cu's
# VLMQ_W4S_TILES; checked against the source's rows on the CPU, against the library's shapes on the GPU)
W4_SHUFFLED_TWINS = {3: 0, 10: 1, 0: 2, 6: 3}


def shuffle_fits(n: int, k: int) -> bool:
    """Whether an [N, K] int4 weight tiles into the shuffled layout's 16 x 16 atoms (K also a multiple of 64)."""
    return n % 16 == 0 and k % 64 == 0


def check_shuffle_input(packed: torch.Tensor) -> tuple[int, int]:
    """(N, K) of w4's packed int4 [N, K / 8] int32 weights the shuffled tiles can read, else a one-line ValueError."""
    if packed.dtype != torch.int32 or packed.dim() != 2:
        raise ValueError(
            f"w4_shuffle takes w4's packed int4 [N, K / 8] int32 weights, got {packed.dtype} {tuple(packed.shape)}: "
            "pack them with w4.pack_int4"
        )
    n, k = packed.shape[0], packed.shape[1] * 8
    if not shuffle_fits(n, k):
        raise ValueError(
            f"w4_shuffle needs N a multiple of 16 and K of 64 (got [{n}, {k}]): keep this weight in the packed layout"
        )
    return n, k


def w4_shuffle_reference(packed: torch.Tensor) -> torch.Tensor:
    """w4's packed int4 [N, K / 8] (int32) in CUTLASS's shuffled layout (``cutlass/mixed_gemm.cu``'s
    ``LayoutWShuffled``; same shape and size), in PyTorch. The layout tiles [N, K] into 16 x 16 atoms, N-block
    fastest (atom (nb, kb) at word 32 (nb + N / 16 kb)); in an atom, the wgmma register fragment's thread
    t0 + 4 t1 (t0 < 4, t1 < 8) owns one word holding its eight values (rows t1 + 8 v1, columns 2 t0 + v0 + 8 v2)
    with value (v0, v1, v2) in nibble 4 v0 + v1 + 2 v2: the order 0, 2, 4, 6, 1, 3, 5, 7 of its register index
    v0 + 2 v1 + 4 v2."""
    n, k = check_shuffle_input(packed)
    nibbles = (packed.unsqueeze(-1) >> (torch.arange(8, device=packed.device, dtype=torch.int32) * 4)) & 0xF
    # [N, K] -> (nb, v1, t1, kb, v2, t0, v0)
    v = nibbles.reshape(n // 16, 2, 8, k // 16, 2, 4, 2)
    # -> (kb, nb, t1, t0, v0, v2, v1): word (nb + N/16 kb) * 32 + t0 + 4 t1, nibble 4 v0 + 2 v2 + v1
    v = v.permute(3, 0, 2, 5, 6, 4, 1).reshape(-1, 8)
    shifts = torch.arange(8, device=packed.device, dtype=torch.int32) * 4
    return (v << shifts).sum(dim=-1, dtype=torch.int32).view(n, k // 8)


def w4_shuffle(packed: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``w4_shuffle_reference`` in one Triton launch on the current stream (a GPU, or Triton's interpreter; into
    ``out`` if given), else the reference: the layout ``w4a16_gemm(shuffled=True)`` reads. CUTLASS's own reorder
    (``w4_shuffle_cutlass``, the tests' oracle) took 339 / 530 us for the 7b gate/up / down weights on the H200,
    this one 102 / 53 (thirty-sixth session) -- still more, made one layer ahead of a prefill on a side stream, than
    the shuffled tiles save (7b int4 first token 14.05 -> 17.41 ms): ``$VLMQ_PREFILL_PREPARE=shuffle`` stays off."""
    n, k = check_shuffle_input(packed)
    if out is not None and (
        out.dtype != torch.int32 or out.shape != packed.shape or out.device != packed.device or not out.is_contiguous()
    ):
        raise ValueError(
            f"w4_shuffle's out must be a contiguous int32 {tuple(packed.shape)} tensor on {packed.device} (got "
            f"{out.dtype} {tuple(out.shape)} on {out.device}): pass torch.empty_like(packed), or no out"
        )
    if not (packed.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"):
        made = w4_shuffle_reference(packed)
        return made if out is None else out.copy_(made)
    from vlmq.engine.kernels.gemv_triton import w4_shuffle_kernel

    packed = packed.contiguous()
    out = torch.empty_like(packed) if out is None else out
    atoms_n, atoms_k = 4, 8  # a program: 64 rows x 128 columns (64-byte row segments read, 512-byte runs written)
    grid = (-(-n // (16 * atoms_n)), -(-k // (16 * atoms_k)))
    w4_shuffle_kernel[grid](packed, out, n, k // 8, atoms_n, atoms_k)
    return out


def w4_shuffle_cutlass(packed: torch.Tensor) -> torch.Tensor:
    """``w4_shuffle`` by CUTLASS's reorder (``vlmq_w4_shuffle``: the layout computed from the MMA atom itself), on
    the current stream: the oracle the Triton kernel is checked against on the GPU."""
    n, k = check_shuffle_input(packed)
    lib = _library()
    if lib is None:
        raise RuntimeError(f"CUTLASS prefill GEMMs not built: {BUILD_HINT}")
    packed = packed.contiguous()
    out = torch.empty_like(packed)
    code = lib.vlmq_w4_shuffle(
        packed.data_ptr(), out.data_ptr(), n, k, torch.cuda.current_stream(packed.device).cuda_stream
    )
    if code:
        raise RuntimeError(f"CUTLASS int4 shuffle of [{n}, {k}]: {ERRORS.get(code, code)}")
    return out


@functools.cache
def _workspace(device: torch.device) -> torch.Tensor:
    """One scratch per device for the stream-K tiles' partial sums, made on the first (eager) call."""
    return torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device=device)


class W4GemvConfig(NamedTuple):
    """A configuration of the int4 tensor-core decode GEMV (``cutlass/w4_gemv.cu``): a CTA owns ``16 * row_blocks``
    weight rows, its ``warps`` take its 128-column chunks in turn with ``in_flight`` chunks of weights loaded ahead;
    ``post``: the group scales on each chunk's fp32 sums (groups a multiple of 128) instead of on the weights."""

    row_blocks: int
    warps: int
    in_flight: int
    post: bool


@functools.cache
def w4_gemv_configs() -> dict[W4GemvConfig, int]:
    """{configuration: its index in the built library} (empty where the library is not built)."""
    lib = _library()
    if lib is None:
        return {}
    out = {}
    for index in range(lib.vlmq_w4_gemv_configs()):
        dims = [ctypes.c_int(0) for _ in range(4)]
        lib.vlmq_w4_gemv_config_shape(index, *(ctypes.byref(d) for d in dims))
        rb, nw, pf, post = (d.value for d in dims)
        out[W4GemvConfig(rb, nw, pf, bool(post))] = index
    return out


W4_GEMV_MAX_M = 16  # activation rows of one call (two 8-column MMA operands)
GEMV_ERRORS = {
    1: "unknown configuration",
    3: "shape not supported (M <= 16; K and the group multiples of 32, of 128 for a post configuration; 16-byte rows)",
    5: "launch failed",
    6: "CUDA error after the launch",
}


def w4_gemv_fits(
    x: torch.Tensor,
    packed: torch.Tensor,
    scale: torch.Tensor,
    zero: torch.Tensor | None,
    group_size: int,
    config: W4GemvConfig,
) -> bool:
    """Whether ``w4_gemv`` takes this call: M <= 16 bf16 rows, bf16 scales and int8 zero points, K and a power-of-two
    group multiples of 32 (128 for ``post``), rows 16-byte aligned, the weight's rows contiguous."""
    m, k = x.shape
    return (
        1 <= m <= W4_GEMV_MAX_M
        and x.dtype == torch.bfloat16
        and scale.dtype == torch.bfloat16
        and scale.stride(-1) == 1
        and (zero is None or zero.dtype == torch.int8)
        and k % 32 == 0
        and group_size >= 32
        and group_size & (group_size - 1) == 0
        and (not config.post or group_size % 128 == 0)
        and x.stride(1) == 1
        and x.stride(0) % 8 == 0
        and x.data_ptr() % 16 == 0
        and packed.stride(1) == 1
        and packed.stride(0) % 4 == 0
        and packed.data_ptr() % 16 == 0
    )


def w4_gemv(
    x: torch.Tensor,
    packed: torch.Tensor,
    scale: torch.Tensor,
    zero: torch.Tensor | None,
    group_size: int,
    bias: torch.Tensor | None,
    residual: torch.Tensor | None,
    silu_mul: bool,
    config: W4GemvConfig,
    pdl: bool,
    split: int = 1,
    semaphores: torch.Tensor | None = None,
) -> torch.Tensor:
    """[M <= 16, K] bf16 rows x w4's packed int4 [N, K / 8] (bf16 group scales [N, K / group], optional int8 zero
    points) on the tensor cores → [M, N] bf16 (``silu_mul``: SiLU(gate) * up over interleaved rows, [M, N / 2]), bias
    and ``residual`` added in fp32 before the one rounding; on the current stream, capturable in CUDA graphs; ``pdl``:
    launched as a programmatic dependent of the previous kernel. ``split`` > 1: K over that many CTAs a row block,
    with ``semaphores`` (int32, zeroed, one a row block; left zeroed) and fp32 partials. ``w4_gemv_fits`` says which
    calls it takes."""
    m, k = x.shape
    n = packed.shape[0]
    if split > 1 and (semaphores is None or semaphores.numel() < -(-n // (16 * config.row_blocks))):
        raise ValueError(
            f"a split-K int4 GEMV needs a zeroed int32 semaphore a row block ({n} rows): pass semaphores= "
            "(gemv's split_semaphores) or split=1"
        )
    lib = _library()
    if lib is None:
        raise RuntimeError(f"int4 tensor-core GEMV not built: {BUILD_HINT}")
    out = torch.empty((m, n // 2 if silu_mul else n), dtype=torch.bfloat16, device=x.device)
    bias = bias.to(torch.bfloat16).contiguous() if bias is not None else None
    residual = residual.contiguous() if residual is not None else None
    part = torch.empty((split, m, n), dtype=torch.float32, device=x.device) if split > 1 else None
    code = lib.vlmq_w4_gemv(
        w4_gemv_configs()[config],
        x.data_ptr(),
        packed.data_ptr(),
        scale.data_ptr(),
        zero.data_ptr() if zero is not None else None,
        group_size.bit_length() - 1,
        bias.data_ptr() if bias is not None else None,
        residual.data_ptr() if residual is not None else None,
        out.data_ptr(),
        m,
        n,
        k,
        x.stride(0),
        packed.stride(0),
        scale.stride(0),
        residual.stride(0) if residual is not None else 0,
        out.stride(0),
        int(silu_mul),
        split,
        part.data_ptr() if part is not None else None,
        semaphores.data_ptr() if split > 1 else None,
        int(pdl),
        torch.cuda.current_stream(x.device).cuda_stream,
    )
    if code:
        raise RuntimeError(f"int4 tensor-core GEMV [{m}, {k}] x [{n}, {k}] {config}: {GEMV_ERRORS.get(code, code)}")
    return out
