"""Kernel micro-benchmark for the quantized decode / prefill kernels (issues 16 and 17), on one GPU.

    python benchmarks/bench_kernels.py --out DIR                    # everything, 2b and 7b (~5 min on an H200)
    python benchmarks/bench_kernels.py --out DIR --quick            # the cases behind the defaults (~1 min)
    python benchmarks/bench_kernels.py --out DIR --sweep --presets 2b   # tile / split sweep of the decode kernels
    python benchmarks/bench_kernels.py --out DIR --sweep --fused --rows 1  # the same, each tile in its fused form

What it does:
1. correctness first: every variant at every shape and row count against its plain-PyTorch reference
   (relative error; a failure is printed and recorded, its timing still taken);
2. timing inside a CUDA graph: each captured replay calls the variant on as many weight copies as it takes
   to pass ``--rotate-mb`` (default 256 MB, ~4x the H200's 60 MB L2), so weights come from HBM as in a
   decode step; per call, the median (and min / max) of ``--reps`` replays; TB/s of weight bytes (scales
   and zero points included), TFLOP/s for prefill;
3. a short table at the end; every record in DIR/bench_kernels.json.

Variants (decode: M = 1 and 16; prefill: M = 300 and 1024) on qkv, o, gate_up, down and lm_head of
qwen2-vl-2b and -7b: cuBLAS BF16; vlmq's op per weight format (bf16, int8 / fp8 weight-only, int8 / fp8
W8A8 with the activations quantized by the caller, int4 group 128 with zero points); vlmq's fused form
on the shape it serves (qkv and lm_head: RMSNorm prologue, W8A8 from float rows through ``normalize_rows``;
gate_up: RMSNorm + SiLU·mul; o and down: residual add); the plain op without programmatic dependent launch
(``vlmq-nopdl``; the default launches with it, so consecutive calls in the graph overlap as consecutive
layers' kernels would); at M <= 4 the plain op on the other decode kernel (``vlmq-alt``: CUDA cores <->
tensor cores, what ``gemv.default_config`` chose between); the 8-bit GEMV vlmq shipped before (baseline_w8_gemv.py);
at prefill every path of prefill.py (library GEMM or Triton GEMM, activations already quantized).
``--quick`` times only the cases the defaults were chosen from (``QUICK``), for a short device call.
The sweep checks each candidate's output against the default tile's before timing it (a wrong tile is skipped), and
times the plain op unless ``--fused`` (the form the engine runs: a tile's registers, so its best shape, can differ;
sm_90 SASS: the 2b int8 gate/up tile holds 72 registers plain, 167 with the RMSNorm prologue and SiLU·mul). The
table takes each case from the latest sweep given to ``--write-tiles`` that timed the case's table tile, fused or not.
``--jobs`` compiles the Triton kernels in parallel worker processes first (Triton's disk cache is shared).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import pathlib
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"  # recorded runs (--new-only reads their sweeps)
SHAPES = {
    "2b": {
        "qkv": (2048, 1536),
        "o": (1536, 1536),
        "gate_up": (17920, 1536),
        "down": (1536, 8960),
        "lm_head": (151936, 1536),
    },
    "7b": {
        "qkv": (4608, 3584),
        "o": (3584, 3584),
        "gate_up": (37888, 3584),
        "down": (3584, 18944),
        "lm_head": (152064, 3584),
    },
}
FUSION = {"qkv": "norm", "lm_head": "norm", "gate_up": "norm+silu", "o": "resid", "down": "resid"}
MODES = {
    "bf16": ("bf16", "bf16"),
    "int8-a16": ("int8", "bf16"),
    "fp8-a16": ("fp8", "bf16"),
    "int8-a8": ("int8", "int8"),
    "fp8-a8": ("fp8", "fp8"),
    "int4-g128": ("int4", "bf16"),
}
LEGACY = {"int8-a16", "fp8-a8"}  # the old 8-bit GEMV's modes timed as the baseline
DECODE_ROWS, PREFILL_ROWS = (1, 16), (300, 1024)
GROUP = 128
TOLERANCE = 1e-2
SWEEP_X_SEED = 7  # the sweep's activation rows: one draw for every candidate of a group
MAXNREG_CAPS = (128, 96, 80)  # register caps the one-row sweep times on the table's CUDA-core tiles
WHOLE_ROW_MAX_K = 256 * 8  # a BF16 one-row tile's K tile at eight warps (8 values a lane)


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got.float() - want.float()).norm() / want.float().norm()).item()


@dataclass
class Record:
    preset: str
    shape: str
    n: int
    k: int
    m: int
    variant: str  # cublas | vlmq | vlmq-fused:<fusion> | legacy | prefill:<path>
    mode: str  # key of MODES
    weight_bytes: int
    rel_err: float | None = None
    ok: bool | None = None
    us: float | None = None
    us_min: float | None = None
    us_max: float | None = None
    reps: int = 0
    copies: int = 0
    tb_s: float | None = None
    tflop_s: float | None = None
    config: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)


# ----- cases ---------------------------------------------------------------------------------------
def random_pack(fmt: str, a_mode: str, n: int, k: int, device, seed: int):
    from vlmq.engine.kernels import PackedLinear, pack_int4

    g = torch.Generator(device=device).manual_seed(seed)
    kw = dict(device=device, generator=g)
    if fmt == "bf16":
        return PackedLinear(torch.randn(n, k, dtype=torch.bfloat16, **kw) * 0.02, None, None, 0, None, a_mode)
    if fmt == "int8":
        w = torch.randint(-127, 128, (n, k), dtype=torch.int8, **kw)
        return PackedLinear(w, torch.rand(n, **kw) * 1e-3, None, 0, None, a_mode)
    if fmt == "fp8":
        w = (torch.randn(n, k, **kw) * 64).clamp(-448, 448).to(torch.float8_e4m3fn)
        return PackedLinear(w, torch.rand(n, **kw) * 1e-4, None, 0, None, a_mode)
    q = torch.randint(-8, 8, (n, k), dtype=torch.int8, **kw)
    scale = (torch.rand(n, k // GROUP, **kw) * 0.01).to(torch.bfloat16)
    zero = torch.randint(-8, 8, (n, k // GROUP), dtype=torch.int8, **kw)
    return PackedLinear(pack_int4(q), scale, zero, GROUP, None, a_mode)


def build(variant: str, mode: str, shape: str, n: int, k: int, m: int, device, seed: int):
    """(call, reference) closures for one variant on fresh random weights and activations."""
    from vlmq.engine.kernels import fused_linear, fused_linear_reference, quantize_activation
    from vlmq.engine.kernels.prefill import prefill_linear

    fmt, a_mode = MODES[mode]
    p = random_pack(fmt, a_mode, n, k, device, seed)
    g = torch.Generator(device=device).manual_seed(seed + 1)
    x = torch.randn(m, k, dtype=torch.bfloat16, device=device, generator=g)
    xq, xs = quantize_activation(x, a_mode)
    out = torch.bfloat16
    args = (p.weight, p.scale, p.zero, p.group_size)
    plain = (xq, *args, None, xs, a_mode, None, 1e-6, None, "none", None, out)
    plain_ref = lambda: fused_linear_reference(*plain)  # noqa: E731
    if variant == "cublas":
        return (lambda: F.linear(x, p.weight)), plain_ref
    if variant == "vlmq":
        return (lambda: fused_linear(*plain)), plain_ref
    if variant in ("vlmq-nopdl", "vlmq-alt"):
        from vlmq.engine.kernels.fused import A_MODE_CODES
        from vlmq.engine.kernels.gemv import gemv

        code = A_MODE_CODES[a_mode]
        if variant == "vlmq-alt":
            cfg = alternative_config(mode, m, n, k)
            return (lambda: gemv(xq, *args, None, x_scale=xs, a_mode=code, out_dtype=out, config=cfg)), plain_ref
        return (lambda: gemv(xq, *args, None, x_scale=xs, a_mode=code, out_dtype=out, pdl=False)), plain_ref
    if variant == "vlmq-xfrag":
        # the table's int4 tile reading rows already in its K order: what its per-tile permute through shared
        # memory costs (against "vlmq", the same tile but where the table adopted the CUDA w4_mma kernel)
        from vlmq.engine.kernels.gemv import default_config, frag_activations, gemv

        cfg = default_config(cfg_format(mode), m, n, k, GROUP)
        xf = frag_activations(xq, cfg)
        return (lambda: gemv(xf, *args, None, out_dtype=out, config=cfg, x_frag=True)), plain_ref
    if variant == "legacy":
        from baseline_w8_gemv import legacy_w8_gemv

        return (lambda: legacy_w8_gemv(xq, p.weight, p.scale, xs, None, out)), plain_ref
    if variant.startswith("prefill:"):
        path = variant.split(":", 1)[1]
        return (lambda: prefill_linear(xq, *args, None, xs, out, path=path)), plain_ref
    fusion = variant.split(":", 1)[1]
    norm = (torch.rand(k, device=device, generator=g) + 0.5).to(torch.bfloat16) if "norm" in fusion else None
    act = "silu_mul" if "silu" in fusion else "none"
    resid = torch.randn(m, n, dtype=torch.bfloat16, device=device, generator=g) if fusion == "resid" else None
    fused = (x, *args, None, None, a_mode, norm, 1e-6, None, act, resid, out)
    reference = lambda: fused_linear_reference(*fused)  # noqa: E731
    if variant.startswith(("vlmq-prologue:", "vlmq-normfirst:")):
        # the float rows' RMSNorm in the CUDA-core kernel's prologue vs normalize_rows first (gemv's norm_first)
        from vlmq.engine.kernels.gemv import ACT_NONE, ACT_SILU_MUL, gemv

        first = variant.startswith("vlmq-normfirst:")
        code = ACT_SILU_MUL if act == "silu_mul" else ACT_NONE
        return (
            lambda: gemv(x, *args, None, norm_weight=norm, act=code, residual=resid, out_dtype=out, norm_first=first)
        ), reference
    return (lambda: fused_linear(*fused)), reference


def decode_variants(mode: str, shape: str, m: int) -> list[str]:
    from vlmq.engine.kernels.gemv import SUM_MAX_M

    if shape == "lm_head" and mode != "bf16":
        return []  # lm_head stays BF16 in every recipe
    out = (["cublas"] if mode == "bf16" else []) + ["vlmq", "vlmq-nopdl", f"vlmq-fused:{FUSION[shape]}"]
    out += ["vlmq-alt"] if m <= SUM_MAX_M else []
    out += ["vlmq-xfrag"] if mode == "int4-g128" and m == 16 else []  # the table's 16-row int4 tiles: swapped, frag
    if m <= SUM_MAX_M and "norm" in FUSION[shape] and MODES[mode][1] == "bf16":
        out += [f"vlmq-prologue:{FUSION[shape]}", f"vlmq-normfirst:{FUSION[shape]}"]  # where the RMSNorm runs
    return out + (["legacy"] if mode in LEGACY else [])


def prefill_variants(mode: str, shape: str) -> list[str]:
    from vlmq.engine.kernels.gemv import W_FP8, W_INT4, W_INT8
    from vlmq.engine.kernels.prefill import prefill_paths

    if shape == "lm_head":
        return []
    scheme = {
        "bf16": "bf16",
        "int8-a16": "w8a16",
        "fp8-a16": "w8a16",
        "int8-a8": "w8a8_int8",
        "fp8-a8": "w8a8_fp8",
        "int4-g128": "w4a16",
    }[mode]
    if mode == "bf16":
        return ["cublas"]
    fmt = {"fp8": W_FP8, "int4": W_INT4}.get(mode.split("-")[0], W_INT8)
    return [f"prefill:{p}" for p in prefill_paths(scheme, fmt)]


# --quick: (presets, shapes, rows, modes, variants or None for every variant of the mode) that decide the defaults
QUICK = [
    (("2b",), ("qkv", "gate_up", "down"), (1, 16), ("int8-a8", "fp8-a8"), ("vlmq", "fused")),  # W8A8 prologue
    (("2b",), ("qkv",), (16,), ("bf16", "int4-g128"), ("vlmq", "fused")),  # norm before tensor-core tiles
    (("2b", "7b"), ("gate_up", "down"), (1,), ("fp8-a8",), ("vlmq", "legacy")),  # FP8 W8A8 decode at M = 1
    (("2b", "7b"), ("gate_up", "down"), (1,), ("int8-a16", "fp8-a16"), ("vlmq", "vlmq-alt")),  # which kernel
    (("2b",), ("o", "gate_up"), (1, 16), ("bf16", "int8-a16"), ("vlmq", "vlmq-nopdl")),  # PDL
    (("2b",), ("qkv", "gate_up", "down"), (300,), ("int8-a16", "fp8-a16", "int8-a8", "int4-g128"), None),
    (("7b",), ("gate_up", "down"), (300,), ("int8-a16", "int8-a8"), None),  # prefill paths
]


def quick_plan() -> list[tuple]:
    cases = []
    for presets, shapes, rows, modes, variants in QUICK:
        for preset in presets:
            for shape in shapes:
                n, k = SHAPES[preset][shape]
                for m in rows:
                    for mode in modes:
                        every = decode_variants(mode, shape, m) if m <= 64 else prefill_variants(mode, shape)
                        chosen = (
                            every
                            if variants is None
                            else [
                                v
                                for v in every
                                if v in variants or (v.startswith("vlmq-fused") and "fused" in variants)
                            ]
                        )
                        cases += [(preset, shape, n, k, m, v, mode) for v in chosen]
    return list(dict.fromkeys(cases))


def plan(presets, rows, modes, shapes=None, variants=None) -> list[tuple]:
    """Every (preset, shape, n, k, m, variant, mode) asked for; ``variants``: only those named (a name before its
    ``:`` matches every fusion of it, e.g. ``vlmq-fused``)."""
    cases = []
    for preset in presets:
        for shape, (n, k) in SHAPES[preset].items():
            if shapes and shape not in shapes:
                continue
            for m in rows:
                for mode in modes:
                    for v in decode_variants(mode, shape, m) if m <= 64 else prefill_variants(mode, shape):
                        if not variants or v in variants or v.split(":")[0] in variants:
                            cases.append((preset, shape, n, k, m, v, mode))
    return cases


# ----- measurement ---------------------------------------------------------------------------------
def check(case, device) -> tuple[float, bool]:
    preset, shape, n, k, m, variant, mode = case
    call, ref = build(variant, mode, shape, n, k, m, device, seed=0)
    err = relative_error(call(), ref())
    return err, bool(math.isfinite(err) and err < TOLERANCE)


def time_graph(calls: list, reps: int) -> list[float]:
    """µs per call: replays of one CUDA graph that runs every closure in ``calls`` once."""
    from vlmq.engine.graphs import capture_graph

    graph, _ = capture_graph(lambda: [c() for c in calls])
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3 / len(calls))
    del graph
    return times


def graph_stats(calls: list, reps: int) -> dict:
    """``time_graph``'s replays as {us (median), us_min, us_max, reps}: one record's timing fields."""
    times = time_graph(calls, reps)
    return dict(us=statistics.median(times), us_min=min(times), us_max=max(times), reps=len(times))


def measure(case, rec: Record, args) -> None:
    preset, shape, n, k, m, variant, mode = case
    copies = max(1, min(64, math.ceil(args.rotate_mb * 2**20 / rec.weight_bytes)))
    calls = [build(variant, mode, shape, n, k, m, "cuda", seed=i)[0] for i in range(copies)]
    times = time_graph(calls, args.reps)
    rec.us, rec.us_min, rec.us_max = statistics.median(times), min(times), max(times)
    rec.reps, rec.copies = len(times), copies
    rec.tb_s = rec.weight_bytes / rec.us / 1e6
    if m > 64:
        rec.tflop_s = 2.0 * m * n * k / rec.us / 1e6
    del calls
    torch.cuda.empty_cache()


def describe_config(case) -> str:
    preset, shape, n, k, m, variant, mode = case
    if not variant.startswith("vlmq") or m > 64:
        return ""
    return str(tuple(alternative_config(mode, m, n, k) if variant == "vlmq-alt" else decode_config(mode, m, n, k)))


def decode_config(mode: str, m: int, n: int, k: int):
    """The decode tile a call of ``mode`` gets by default: the table's for its weights and, where the table has one
    measured for them, its activations (``gemv.table_key``)."""
    from vlmq.engine.kernels.gemv import default_config

    return default_config(cfg_format(mode), m, n, k, GROUP, a_mode=cfg_activations(mode))


def alternative_config(mode: str, m: int, n: int, k: int):
    """The other decode kernel than the default's (CUDA cores <-> tensor cores), its default tile."""
    from vlmq.engine.kernels.gemv import dot_config, sum_config

    cfg = decode_config(mode, m, n, k)
    fmt = cfg_format(mode)
    return dot_config(fmt, m, n, k, GROUP) if cfg.kernel == "sum" else sum_config(fmt, m, n, k)


def cfg_format(mode: str) -> int:
    from vlmq.engine.kernels.gemv import W_FLOAT, W_FP8, W_INT4, W_INT8

    return {"bf16": W_FLOAT, "int8": W_INT8, "fp8": W_FP8, "int4": W_INT4}[MODES[mode][0]]


def cfg_activations(mode: str) -> int:
    """The activation mode code (``gemv``'s ``a_mode``) of ``mode``'s rows."""
    from vlmq.engine.kernels.fused import A_MODE_CODES

    return A_MODE_CODES[MODES[mode][1]]


def weight_bytes(fmt: str, n: int, k: int) -> int:
    """Bytes a call reads for its weights: values, scales (fp32 per row; bf16 per int4 group), zero points."""
    per = {"bf16": 2.0, "int8": 1.0, "fp8": 1.0, "int4": 0.5}[fmt]
    meta = 4 * n if fmt in ("int8", "fp8") else (3 * n * (k // GROUP) if fmt == "int4" else 0)
    return int(per * n * k) + meta


# ----- parallel compile ----------------------------------------------------------------------------
def _warm(cases):
    torch.cuda.set_device(0)
    for case in cases:
        try:
            check(case, "cuda")
        except Exception:  # noqa: BLE001 - the main process records the failure
            pass
    return len(cases)


def in_workers(warm, items: list, jobs: int) -> float:
    """Seconds to run ``warm`` over ``items`` split across ``jobs`` spawned worker processes: what they compile
    lands in Triton's disk cache, where the main process finds it."""
    import concurrent.futures
    import multiprocessing

    start = time.monotonic()
    chunks = [items[i::jobs] for i in range(jobs)]
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(warm, [c for c in chunks if c]))
    return time.monotonic() - start


def precompile(cases, jobs: int) -> float:
    """Run the correctness pass of every distinct kernel configuration in worker processes."""
    seen, todo = set(), []
    for case in cases:  # one case per (variant, mode, m bucket, shape kind) compiles it
        key = (case[5], case[6], case[4] <= 4, case[4] <= 64, case[1])
        if key not in seen:
            seen.add(key)
            todo.append(case)
    return in_workers(_warm, todo, jobs)


# ----- sweep ---------------------------------------------------------------------------------------
LIBRARY = "library"  # a prefill sweep's baseline: prefill_linear's default path (dequantize + cuBLAS, _scaled_mm, ...)


def with_frag(configs: list, fmt_code: int, m: int, n: int, k: int) -> list:
    """int4 tensor-core candidates also in fragment order (``GemvConfig.frag``) where the tile allows it, and the
    swapped ones (every shipped 16-row int4 tile is) with the scales in registers (not ``post``) also with K tiles of
    two and four groups (``gemv.int4_block_k``), their K slices chosen for the wider tile: a one-group tile is 4 KB
    of weights a program an iteration, and the 7b's 16-row ones stream at 1.5-2.0 TB/s where int8's 16 KB tiles
    reach 3.0-3.5 (the batch-16 profiles, thirty-eighth session)."""
    from vlmq.engine.kernels.gemv import W_INT4, dot_config, frag_fits, int4_block_k

    if fmt_code != W_INT4:
        return configs
    frag = [
        c._replace(frag=True)
        for c in configs
        if c.kernel == "dot" and frag_fits(c.block_n, c.block_k, c.num_warps, c.swap)
    ]
    wide = []
    # one warpgroup's 64 weight rows or two warpgroups' 128 (a warp's share of a 4-group tile already takes 255
    # registers at 64 rows: sm_90, 7b down)
    for block_n, warps in ((64, 4), (128, 8)):
        for block_k, stages in itertools.product((2 * GROUP, 4 * GROUP), (3, 4)):
            if int4_block_k(block_k, GROUP, k, True, False) == block_k:
                base = dot_config(
                    fmt_code, m, n, k, GROUP, block_n=block_n, block_k=block_k, warps=warps, stages=stages, swap=True,
                    frag=True,
                )  # fmt: skip
                wide += [base._replace(split_k=split) for split in sorted({base.split_k, min(16, 2 * base.split_k)})]
    return configs + frag + wide


def sweep_configs(fmt_code: int, m: int, n: int, k: int):
    from vlmq.engine.kernels.gemv import (
        GEMV_MAX_M,
        SUM_MAX_M,
        W_FLOAT,
        W_FP8,
        W_INT4,
        W_INT8,
        default_config,
        dot_config,
        split_for,
        sum_config,
    )

    out = []
    if m > GEMV_MAX_M:
        # prefill: the Triton GEMM (weights dequantized in registers, never written) against the library path; on
        # the small shapes (2b q/k/v, o, down at 300 rows: 36-48 tiles of 128 x 128 for 132 SMs) 64-row / 64-column
        # tiles and K slices give the grid its SMs (the sixth session swept 128-row tiles, one slice, only)
        out.append(LIBRARY)
        for block_n, block_k, stages, swap, warps in itertools.product(
            (128, 256), (64, 128), (3, 4), (False, True), (4, 8)
        ):
            out.append(
                dot_config(
                    fmt_code, m, n, k, GROUP, block_n=block_n, block_k=block_k, stages=stages, swap=swap, warps=warps
                )._replace(num_warps=warps)
            )
        for (block_m, block_n), block_k, stages in itertools.product(
            ((64, 64), (64, 128), (64, 256), (128, 64), (128, 128)), (64, 128), (3, 4)
        ):
            warps = 8 if block_m * block_n >= 128 * 128 else 4
            for split in (1, 2, 4):
                if split == 1 or k // (block_k * split) >= 4:
                    cfg = dot_config(
                        fmt_code, m, n, k, GROUP, block_n=block_n, block_k=block_k, stages=stages, warps=warps,
                        split=split, block_m=block_m,
                    )  # fmt: skip
                    out.append(cfg)
        return list(dict.fromkeys(out))  # the fragment-order int4 tiles are 16-row decode tiles
    if m <= SUM_MAX_M:
        # rows and warps (more warps: a wider K tile, fewer serial iterations) at the wide vecs; int8 also at vec 4,
        # 128-bit weight loads (Nsight Compute, eighteenth session: int8 waits on memory at two-thirds occupancy,
        # and its vec 2 tiles load 8 bytes a row; sm_90 SASS: 7b gate/up 8 rows, one warp, vec 4 issues 4.24
        # instructions a value against the shipped vec 2 tile's 5.99)
        wide, narrow = {W_INT4: ((4,), (1, 2)), W_INT8: ((2, 4), (1,))}.get(fmt_code, ((1,), ()))
        shapes = [(r, w, vec, pipe, 1) for vec in wide for r in (4, 8, 16, 32) for w in (1, 2, 4) for pipe in (0, 1)]
        # narrower loads at the row counts and warps that win: fewer registers a lane, more warps resident (sm_90
        # SASS, seventeenth session: 7b int4 gate/up at 8 rows, one warp: 128 registers at vec 4 -> 16 warps an SM,
        # 64 at vec 2 -> 32; cuobjdump, gemv_registers.py)
        shapes += [(r, w, vec, pipe, 1) for r in (4, 8, 16) for w in (1, 2) for vec in narrow for pipe in (0, 1)]
        # packed words also through Triton's software pipeliner (cp.async, 2-3 tiles ahead in shared memory: weight
        # bytes in flight that hold no registers; Nsight: the 7b int4 gate/up reads HBM at ~53 % of peak with 16-21
        # warps an SM, the int8 one waits on memory); bf16 too (H200, twenty-second session, bench_l2_resident.py:
        # with its weights resident in L2 the BF16 2b down takes 7.1 us against 10.4 from HBM, the 7b q/k/v 8.6
        # against 12.4 -- latency that more bytes in flight may hide); FP8 too (forty-ninth session: its one-row tiles,
        # swept before the pipeliner was, load 8 bytes a lane at one stage -- the 2b down 7.87 us against 6.83 for
        # int8's staged tile of the same bytes)
        if fmt_code in (W_INT4, W_INT8, W_FLOAT, W_FP8):
            shapes += [
                (r, w, vec, 0, st) for vec in wide + narrow for r in (4, 8, 16) for w in (1, 2, 4) for st in (3, 4)
            ]
        # BF16 rows of up to 2048 values (the 2b's K = 1536: q/k/v, o, gate/up): eight warps make the whole row one K
        # tile, which a program loads before the PDL wait (cuda_core_sums), so its weights stream while the previous
        # kernel ends -- the attention before o_proj leaves HBM idle for ~3 us after its dots (twenty-fourth session's
        # trace) -- and after the wait it reads only x; at most four warps, as before, left a third of o_proj's row
        # (and, staged, all of it) to load after the wait
        if fmt_code == W_FLOAT and k <= WHOLE_ROW_MAX_K:
            shapes += [(r, 8, 1, 0, 1) for r in (4, 8, 16)]
        for rows, warps, vec, pipe, stages in shapes:
            base = sum_config(fmt_code, m, n, k, rows=rows, warps=warps, vec=vec, stages=stages)
            base = base._replace(pipe=bool(pipe))
            for split in sorted({1, base.split_k, min(16, 2 * base.split_k)}):
                if split == 1 or k // (base.block_k * split) >= 1:
                    out.append(base._replace(split_k=split))
        # BF16 staged tiles under register caps too: at one row (H200, twenty-third session) the 2b and 7b gate/up won
        # at one stage under cap 80, the 2b down, o and q/k/v at 3-4 stages uncapped; the two together were untimed
        if fmt_code == W_FLOAT:
            staged = [c for c in out if c.kernel == "sum" and c.num_stages > 1 and c.split_k == 1]
            out += [c._replace(maxnreg=cap) for c in staged for cap in MAXNREG_CAPS[1:]]
        # the table's tile under register caps: the fused forms hold far more registers than the plain ones the
        # table was swept for (sm_90: 2b int8 gate/up with its RMSNorm 167 against 72; capped at 128 or 96 it
        # compiles without spills or with a few), so fewer programs share an SM
        shipped = default_config(fmt_code, m, n, k, GROUP, cuda_cores=True) if m == 1 else None
        if shipped is not None and shipped.kernel == "sum":
            out += [shipped._replace(maxnreg=cap) for cap in MAXNREG_CAPS if cap != shipped.maxnreg]
        # swapped tensor-core tiles cost the same at one row as at 16 (the weights are the MMA's 64-row side)
        posts = (False, True) if fmt_code == W_INT4 else (False,)
        for block_n, block_k in ((64, 128), (64, 256), (128, 128)):
            for stages, post in itertools.product((3, 4), posts):
                base = dot_config(
                    fmt_code, m, n, k, GROUP, block_n=block_n, block_k=block_k, stages=stages, swap=True, post=post
                )
                out += [base._replace(split_k=split) for split in sorted({1, base.split_k})]
    else:
        # swapped operands put the weight tile on the MMA's M side: 64+ weight rows; int4 also with group scales on
        # the sums (post)
        posts = (False, True) if fmt_code == W_INT4 else (False,)
        for block_n, block_k in ((32, 128), (64, 64), (64, 128), (64, 256), (128, 64), (128, 128)):
            for stages, swap, post in itertools.product((3, 4), (False, True), posts):
                if swap and block_n < 64:
                    continue
                base = dot_config(
                    fmt_code, m, n, k, GROUP, block_n=block_n, block_k=block_k, stages=stages, swap=swap, post=post
                )
                auto = split_for(-(-n // block_n), k, base.block_k)
                for split in sorted({1, auto, min(16, 2 * auto)}):
                    out.append(base._replace(split_k=split))
        # two warpgroups: a swapped tile of 128 or 256 weight rows as two 64-row MMAs at once (or 4 each)
        for block_n, post in itertools.product((128, 256), posts):
            base = dot_config(fmt_code, m, n, k, GROUP, block_n=block_n, warps=8, swap=True, post=post)
            out += [base._replace(split_k=split) for split in sorted({1, base.split_k})]
    return list(dict.fromkeys(with_frag(out, fmt_code, m, n, k)))  # int4 caps block_k at the group: some coincide


def sweep_groups(args) -> list[tuple]:
    """(preset, shape, n, k, m, mode) of the sweep, one row count at a time (M = 1 first: the batch-1 bars); the
    decoder projections, or those of ``--shapes``."""
    return [
        (preset, shape, n, k, m, mode)
        for m in args.rows
        for preset in args.presets
        for shape, (n, k) in SHAPES[preset].items()
        if shape != "lm_head" and (not args.shapes or shape in args.shapes)
        for mode in args.modes
    ]


def sweep_calls(group: tuple, cfg, copies: int, fused: bool = False, device: str = "cuda") -> list:
    """The candidate ``cfg`` of one sweep group as closures over ``copies`` weight copies: the plain op, its
    activations quantized by the caller, or (``fused``) the form the engine runs for the shape (``FUSION``: float
    rows through the RMSNorm, and for W8A8 the per-token quantization, in the kernel; SiLU·mul; the residual add)."""
    from vlmq.engine.kernels import quantize_activation
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import gemv
    from vlmq.engine.kernels.prefill import PREFILL_PATH, prefill_linear, scheme

    preset, shape, n, k, m, mode = group
    fmt, a_mode = MODES[mode]
    x_gen = torch.Generator(device=device).manual_seed(SWEEP_X_SEED)  # every candidate multiplies the same rows
    x = torch.randn(m, k, dtype=torch.bfloat16, device=device, generator=x_gen)
    xq, xs = quantize_activation(x, a_mode)
    packs = [random_pack(fmt, a_mode, n, k, device, i) for i in range(copies)]
    if cfg == LIBRARY:  # the library path by name: a measured tile would otherwise stand in for it
        path = PREFILL_PATH[scheme(packs[0].weight, xq)]
        return [
            lambda p=p: prefill_linear(xq, p.weight, p.scale, p.zero, p.group_size, None, xs, torch.bfloat16, path=path)
            for p in packs
        ]
    rows, kwargs = xq, dict(x_scale=xs, a_mode=A_MODE_CODES[a_mode])  # the plain op: rows quantized by the caller
    if fused:
        rows, kwargs = x, engine_form(shape, mode, x, n, x_gen)
    return [lambda p=p: gemv(rows, p.weight, p.scale, p.zero, p.group_size, None, config=cfg, **kwargs) for p in packs]


def engine_form(shape: str, mode: str, x: torch.Tensor, n: int, generator=None, forwarded: bool = False) -> dict:
    """``gemv``'s keyword arguments for float rows ``x`` [M, K] of ``shape`` in ``mode`` as the engine's decode step
    passes them (``FUSION``): its RMSNorm weight (drawn from ``generator``), SiLU·mul, a residual of N = ``n``,
    the W8A8 activation mode and, for a W8A8 down_proj, the row maxima gate/up gathers (``fused.fused_mlp``).
    ``forwarded`` (a W8A8 shape with an RMSNorm): its rows' maxima before the norm too, as
    ``$VLMQ_W8A8_ROW_MAX=forward`` gives q/k/v, and the norm kept out of ``normalize_rows`` (``norm_first`` False), so
    the launch quantizes its rows in its loop, the norm deferred, even where the engine's rule would not."""
    from vlmq.engine.kernels.gemv import ACT_NONE, ACT_SILU_MUL

    fusion, a_mode = FUSION[shape], MODES[mode][1]
    m, k = x.shape
    kw = dict(device=x.device, generator=generator)
    norm = (torch.rand(k, **kw) + 0.5).to(torch.bfloat16) if "norm" in fusion else None
    resid = torch.randn(m, n, dtype=torch.bfloat16, **kw) if fusion == "resid" else None
    act = ACT_SILU_MUL if "silu" in fusion else ACT_NONE
    form = dict(a_mode=cfg_activations(mode), norm_weight=norm, act=act, residual=resid)
    if shape == "down" and a_mode != "bf16":  # W8A8: quantized in the tile with the maxima gate/up gathered
        form["x_row_max"] = x.float().abs().amax(dim=1)
    if forwarded:
        if a_mode == "bf16" or norm is None:
            raise ValueError(f"{shape} in {mode}: forwarded row maxima are a W8A8 row's before its RMSNorm")
        form.update(x_row_max=(x.float() * norm.float()).abs().amax(dim=1), norm_first=False)
    return form


def recorded_tiles(results_dir: pathlib.Path = RESULTS_DIR) -> set:
    """Every (preset, shape, rows, mode, tile) a recorded sweep (``bench_kernels_sweep.json`` under ``results_dir``)
    has timed (decode tiles, as ``recorded_config`` reads them)."""
    seen = set()
    for path in sorted(results_dir.rglob("bench_kernels_sweep.json")):
        for row in json.loads(path.read_text()).get("results", []):
            if row["config"] != [LIBRARY]:
                seen.add((row["preset"], row["shape"], row["m"], row["mode"], tuple(recorded_config(row["config"]))))
    return seen


def recorded_config(config: list):
    """A decode tile as a sweep recorded it: a ``GemvConfig``, the fields added after the record (swap, post, frag,
    maxnreg, ...) at their defaults."""
    from vlmq.engine.kernels.gemv import GemvConfig

    return GemvConfig(*config)


def sweep_candidates(
    group: tuple,
    frag_only: bool = False,
    new_only: bool = False,
    recorded: set = frozenset(),
    wide_k_only: bool = False,
    ahead_only: bool = False,
    splits_only: bool = False,
) -> list:
    """The group's candidates; at decode rows the default (the table's tile) first, whether or not today's
    ``sweep_configs`` makes it (an earlier sweep's generator may have: the 2b BF16 gate/up's capped register tile),
    so that every sweep times what the engine runs and ``--write-tiles`` compares within one sweep; there, for a
    sweep that adds tiles to a table whose other tiles an earlier sweep measured, only the default and:
    ``frag_only``, the fragment-order int4 tiles; ``new_only``, the CUDA-core tiles that no recorded sweep has timed
    (``recorded``: ``recorded_tiles``); ``wide_k_only``, the int4 fragment-order tiles of two or four groups a K tile
    (``with_frag``) and a tensor-core default with one and two more stages (more bytes in flight, no registers);
    ``ahead_only``, the CUDA-core tiles in one K slice, uncapped, whose next K tile is in flight while one is used
    (``pipe`` or stages); ``splits_only``, the default tile at other K slice counts (``split_candidates``)."""
    from vlmq.engine.kernels.gemv import GEMV_MAX_M

    preset, shape, n, k, m, mode = group
    fmt = cfg_format(mode)
    configs = sweep_configs(fmt, m, n, k)
    if m > GEMV_MAX_M:
        return configs
    default = decode_config(mode, m, n, k)
    if frag_only:
        configs = [c for c in configs if getattr(c, "frag", False)]
    elif new_only:
        configs = [c for c in configs if c.kernel == "sum" and (preset, shape, m, mode, tuple(c)) not in recorded]
    elif wide_k_only:
        configs = [c for c in configs if c.kernel == "dot" and c.frag and c.block_k > GROUP]
        if default.kernel == "dot":
            configs += [default._replace(num_stages=default.num_stages + extra) for extra in (1, 2)]
    elif ahead_only:
        configs = [
            c
            for c in configs
            if c.kernel == "sum" and (c.pipe or c.num_stages > 1) and c.split_k == 1 and not c.maxnreg
        ]
    elif splits_only:
        configs = split_candidates(default, k)
    return [default, *(c for c in configs if c != default)]


def split_candidates(cfg, k: int) -> list:
    """``cfg`` at every K slice count from half its own to twice it (at least 4), one config per distinct slicing
    (``gemv.k_slices``), each slice at least one K tile (two on tensor cores: ``split_for``'s rule). The sweeps before
    the fortieth session timed a tile at its rule's split, twice that and one (Nsight Compute, 7b down, int4, 16 rows:
    560 programs, 0.71 of a wave of the 6 an SM its registers allow, 23 % occupancy; the int8 tile of twice the bytes
    took as long)."""
    from vlmq.engine.kernels.gemv import k_slices

    least = 2 if cfg.kernel == "dot" else 1
    out, seen = [], set()
    for split in range(max(1, cfg.split_k // 2), max(2 * cfg.split_k, 4) + 1):
        k_split, slices = k_slices(cfg._replace(split_k=split), k)
        if k_split >= least * cfg.block_k and k_split not in seen:
            seen.add(k_split)
            out.append(cfg._replace(split_k=slices))
    return out


def _warm_sweep(items):
    """Compile (group, candidate, fused) items: one candidate at a time, so the workers share the work evenly."""
    torch.cuda.set_device(0)
    for group, cfg, fused in items:
        try:
            sweep_calls(group, cfg, 1, fused)[0]()
        except Exception:  # noqa: BLE001 - the main process logs the failure
            pass
    return len(items)


def run_sweep(args, log, save) -> list[dict]:
    """Time each candidate tile / split of the decode kernels per shape, row count and mode (same rotating
    weight copies for every candidate); log the best against the default, ``save`` after every group."""

    groups = sweep_groups(args)
    recorded = recorded_tiles() if args.new_only else frozenset()
    if args.jobs > 1:
        pairs = [
            (g, c, args.fused)
            for g in groups
            for c in sweep_candidates(
                g, args.frag_only, args.new_only, recorded, args.wide_k_only, args.ahead_only, args.splits_only
            )
        ]
        log(f"sweep compiled in {args.jobs} workers: {in_workers(_warm_sweep, pairs, args.jobs):.0f} s")
    results, t0 = [], time.monotonic()
    for group in groups:
        preset, shape, n, k, m, mode = group
        fmt = MODES[mode][0]
        copies = max(1, min(64, math.ceil(args.rotate_mb * 2**20 / weight_bytes(fmt, n, k))))
        default = LIBRARY if m > 64 else decode_config(mode, m, n, k)
        best, default_row, group_start = None, None, len(results)
        candidates = sweep_candidates(
            group, args.frag_only, args.new_only, recorded, args.wide_k_only, args.ahead_only, args.splits_only
        )
        want = sweep_calls(group, default, 1, args.fused)[0]()  # the default tile's output (its GPU tests check it)
        for i, cfg in enumerate(candidates):
            if time.monotonic() - t0 > args.budget_s:
                # a group cut short is dropped: the best of the candidates it timed is not the shape's best, and
                # --write-tiles would let it replace a whole earlier sweep's tile
                del results[group_start:]
                cut = f"; {preset} {shape} m={m} {mode} dropped after {i} of {len(candidates)} candidates" if i else ""
                log(f"sweep stopped at the time budget ({args.budget_s:.0f} s){cut}")
                return results
            try:
                calls = sweep_calls(group, cfg, copies, args.fused)
                err = relative_error(calls[0](), want)
                if not err < TOLERANCE:  # a fast wrong tile must not reach the table
                    log(f"  {tuple(cfg)}: wrong result (relative error {err:.1e} against the default tile); skipped")
                    continue
                us = statistics.median(time_graph(calls, args.reps))
            except Exception as err:  # noqa: BLE001 - a config that does not compile or launch is skipped
                log(f"  {tuple(cfg)}: {type(err).__name__}: {str(err).splitlines()[0][:100]}")
                continue
            row = dict(
                preset=preset,
                shape=shape,
                m=m,
                mode=mode,
                config=[cfg] if cfg == LIBRARY else list(cfg),
                fusion=FUSION[shape] if args.fused and cfg != LIBRARY else "",
                us=us,
                tb_s=weight_bytes(fmt, n, k) / us / 1e6,
                default=cfg == default,
            )
            results.append(row)
            best = row if best is None or us < best["us"] else best
            default_row = row if row["default"] else default_row
        if best:
            log(
                f"{preset} {shape:8} m={m:<3} {mode:10} best {best['us']:7.1f} us {best['tb_s']:5.2f} TB/s "
                f"{tuple(best['config'])}" + (f" | default {default_row['us']:7.1f} us" if default_row else "")
            )
        torch.cuda.empty_cache()
        save(results)
    return results


TABLE_FORMATS = {"bf16": "bf16", "int8-a16": "int8", "int4-g128": "int4", "fp8-a8": "fp8", "int8-a8": "int8"}
# the sweep modes whose tiles the table keeps apart from their weight format's (``gemv.TILE_ACTIVATIONS``): int8-a8,
# smoothquant's W8A8, beside int8_wo's W8A16 tile of the same weights
TABLE_ACTIVATIONS = {"int8-a8": "int8"}
VETO_RECIPES = {"int4": ("int4_wo", "int4_awq"), "int8": ("int8_wo", "smoothquant"), "fp8": ("fp8",), "bf16": ("bf16",)}


def tiles_from_sweep(sweeps: list[dict], sources: list[str], vetoed: list[dict] = ()) -> dict:
    """The sweeps' best candidate per (mode, N, K, M) as gemv's measured-tile table (``gemv.TILES_FILE``): CUDA-core
    tiles at M = 1, tensor-core tiles at M = 16, each with its time and the default's. A weight format has one tile
    per shape: int8 from the W8A16 sweep, FP8 from the W8A8 one (the ``fp8`` recipe); an int8 W8A8 sweep
    (smoothquant's) adds its own beside it (``TABLE_ACTIVATIONS``: the entry's ``activations``), which W8A8 calls
    take where the table has one. A later sweep replaces an earlier one's results for the cases it measured (the lent
    machines differ: tiles are compared within one sweep) where it timed the table's tile too (a sweep without it
    replaced the 2b BF16 gate/up's 16.4 us tile with a 20.0 us one), except where ``vetoed`` ({"source", "preset",
    "format"}: an engine A/B, ``engine_veto``, found that source's tiles of the preset's format slower in the whole
    decode step)."""
    skip = {(v["source"], v["preset"], v["format"]) for v in vetoed}
    sweeps = [
        {
            **sweep,
            "results": [r for r in sweep["results"] if (src, r["preset"], TABLE_FORMATS.get(r["mode"])) not in skip],
        }
        for sweep, src in zip(sweeps, sources)
    ]
    best, default, latest = {}, {}, {}
    timed_default = {(i, r["preset"], r["shape"], r["m"], r["mode"]) for i, s in enumerate(sweeps) for r in s["results"]
                     if r["default"]}  # fmt: skip
    for i, sweep in enumerate(sweeps):
        for r in sweep["results"]:
            case = (r["preset"], r["shape"], r["m"], r["mode"])
            # a later sweep that did not time the table's tile for the case cannot say its best beats it
            if case not in latest or (i, *case) in timed_default or (latest[case], *case) not in timed_default:
                latest[case] = i
    for i, sweep in enumerate(sweeps):
        for r in sweep["results"]:
            case = (r["preset"], r["shape"], r["m"], r["mode"])
            if latest[case] != i or r["mode"] not in TABLE_FORMATS or r["m"] not in (1, 16):
                continue  # prefill rows (M > 64) choose a path, not a decode tile
            # per kernel: at one row the CUDA-core tile is kept beside a faster tensor-core one (gemv_config may
            # still take it, where its prologue saves a row kernel)
            key = (*case, r["config"][0])
            if key not in best or r["us"] < best[key]["us"]:
                best[key] = r
            if r["default"]:
                default[case] = r["us"]
    # a sweep of one kernel's tiles (--splits-only where the tensor cores won at one row) leaves the CUDA-core tile
    # kept beside them as the last sweep that timed CUDA-core tiles for the case had it (not compared across sweeps:
    # the tensor-core tile stays the case's)
    carried = {}
    for i, sweep in enumerate(sweeps):
        for r in sweep["results"]:
            key = (r["preset"], r["shape"], r["m"], r["mode"], r["config"][0])
            if key[2] == 1 and key[4] == "sum" and key not in best and (*key[:4], "dot") in best:
                if key not in carried or carried[key][0] < i or r["us"] < carried[key][1]["us"]:
                    carried[key] = (i, r)
    tiles = {"sum_m1": [], "dot_m1": [], "dot_m16": []}
    for key, r in [*best.items(), *((key, r) for key, (_, r) in carried.items())]:
        preset, shape, m, mode, _ = key
        cuda_cores = best.get((*key[:4], "sum"))
        if key[4] == "dot" and cuda_cores is not None and cuda_cores["us"] <= r["us"]:
            continue  # a tensor-core tile at one row only where it beat the CUDA cores
        kernel, _, block_n, block_k, split, warps, stages, vec, pipe, swap, post, frag, maxnreg = recorded_config(
            r["config"]
        )
        n, k = SHAPES[preset][shape]
        entry = dict(format=TABLE_FORMATS[mode], n=n, k=k, shape=f"{preset} {shape}", us=round(r["us"], 2))
        if mode in TABLE_ACTIVATIONS:
            entry["activations"] = TABLE_ACTIVATIONS[mode]
        entry["default_us"] = round(default[key[:4]], 2) if key[:4] in default else None
        dot_tile = dict(block_n=block_n, block_k=block_k, split=split, stages=stages, swap=swap, post=post)
        if warps != 4:  # tensor-core tiles recorded before this field ran 4 warps
            dot_tile["warps"] = warps
        if frag:
            dot_tile["frag"] = True
        if m == 1 and kernel == "sum":
            sum_tile = dict(rows=block_n, warps=warps, vec=vec, split=split, pipe=pipe)
            sum_tile |= (dict(stages=stages) if stages > 1 else {}) | (dict(maxnreg=maxnreg) if maxnreg else {})
            tiles["sum_m1"].append(entry | sum_tile)
        elif m in (1, 16) and kernel == "dot":
            tiles[f"dot_m{m}"].append(entry | dot_tile)
    env = {key: sorted({sweep[key] for sweep in sweeps}) for key in ("device", "date", "triton")}
    table = {**env, "sources": sources, **tiles, "prefill": prefill_paths(sweeps, latest)}
    return table | ({"vetoed": list(vetoed)} if vetoed else {})


def tile_changes(before: dict, after: dict) -> list[str]:
    """One line per decode tile entry that ``--write-tiles`` added, dropped or changed between two tables (its
    fields but the times; a change lists the fields that moved), so a device call's log says what an A/B of the
    two tables compares."""
    lines = []
    for kind in ("sum_m1", "dot_m1", "dot_m16"):
        old, new = (
            {(e["format"] + (f" a{e['activations']}" if "activations" in e else ""), e["shape"]): e for e in entries}
            for entries in (before.get(kind, []), after.get(kind, []))
        )
        for key in sorted(old.keys() | new.keys()):
            a, b = old.get(key), new.get(key)
            where = f"{kind} {key[0]} {key[1]}"
            if a is None or b is None:
                lines.append(f"{where}: {'added' if a is None else 'dropped'} ({(a or b)['us']} us)")
                continue
            fields = sorted((a.keys() | b.keys()) - {"us", "default_us"})
            moved = [f"{f} {a.get(f)} -> {b.get(f)}" for f in fields if a.get(f) != b.get(f)]
            if moved:
                lines.append(f"{where}: {', '.join(moved)} ({a['us']} -> {b['us']} us)")
    return lines


def engine_veto(text: str, source: str, read=lambda path: json.loads(pathlib.Path(path).read_text())) -> dict:
    """``--veto PRESET:FORMAT:AB_JSON`` as a ``tiles_from_sweep`` veto of ``source``'s tiles (the newest sweep):
    AB_JSON is a ``bench_decode_ab.py --env VLMQ_TILES`` record (shipped table first, the table with ``source``
    second) whose decode step of a FORMAT recipe was slower on the second. Raises ValueError, in one line, where
    it is not."""
    preset, fmt, path = (text.split(":", 2) + ["", ""])[:3]
    if preset not in SHAPES or fmt not in VETO_RECIPES or not path:
        raise ValueError(
            f"--veto {text!r}: give PRESET:FORMAT:AB_JSON, PRESET one of {','.join(SHAPES)}, FORMAT one "
            f"of {','.join(VETO_RECIPES)}, AB_JSON a bench_decode_ab.py --env VLMQ_TILES ab.json"
        )
    try:
        ab = read(path)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"--veto {text!r}: cannot read {path} ({type(err).__name__}); give the ab.json written by "
            "bench_decode_ab.py --env VLMQ_TILES"
        ) from None
    slower = [
        r["recipe"]
        for r in ab.get("results", [])
        if r["recipe"] in VETO_RECIPES[fmt]
        and len(ab.get("variants", [])) == 2
        and r["summary"][ab["variants"][1]]["min"] > r["summary"][ab["variants"][0]]["max"]
    ]
    if ab.get("model", f"qwen2-vl-{preset}") != f"qwen2-vl-{preset}":  # records before 2026-12-02 name no model
        raise ValueError(f"--veto {text!r}: {path} measured {ab['model']}, not qwen2-vl-{preset}; give that preset")
    if ab.get("env") != "VLMQ_TILES" or not slower:
        raise ValueError(
            f"--veto {text!r}: {path} is not a VLMQ_TILES A/B whose second table ran a {fmt} recipe "
            "slower than the first over every round; veto only what an engine A/B measured"
        )
    return dict(source=source, preset=preset, format=fmt, evidence=path, recipes=slower)


def prefill_paths(sweeps: list[dict], latest: dict) -> list[dict]:
    """Per prefill case (mode, shape, M > 64) of the latest sweep that timed it: the library path's time and the
    best Triton GEMM tile's, with the tile where it won (``prefill.prefill_linear`` then runs it), else None."""
    cases: dict[tuple, dict] = {}
    for i, sweep in enumerate(sweeps):
        for r in sweep["results"]:
            case = (r["preset"], r["shape"], r["m"], r["mode"])
            if r["m"] <= 64 or latest[case] != i:
                continue
            found = cases.setdefault(case, {"library": None, "tile": None})
            if r["config"] == [LIBRARY]:
                found["library"] = r
            elif found["tile"] is None or r["us"] < found["tile"]["us"]:
                found["tile"] = r
    out = []
    for (preset, shape, m, mode), found in cases.items():
        library, tile = found["library"], found["tile"]
        if library is None or tile is None:
            continue  # nothing to compare
        _, block_m, block_n, block_k, split, warps, stages, _, _, swap, *_ = tile["config"]
        won = tile["us"] < library["us"]
        n, k = SHAPES[preset][shape]
        shape_tile = dict(block_n=block_n, block_k=block_k, stages=stages, swap=swap, warps=warps)
        shape_tile |= dict(block_m=block_m, split=split)
        out.append(
            dict(mode=mode, n=n, k=k, m=m, shape=f"{preset} {shape}", library_us=round(library["us"], 2))
            | dict(tile_us=round(tile["us"], 2))
            | dict(tile=shape_tile if won else None)
        )
    return out


# ----- report --------------------------------------------------------------------------------------
def table(records: list[Record], rows: tuple[int, ...], prefill: bool) -> str:
    recs = [r for r in records if r.m in rows and r.us is not None]
    label = lambda r: f"{r.mode} {r.variant.split(':')[0]}"  # noqa: E731 - one column for every fusion kind
    cols = list(dict.fromkeys(label(r) for r in recs))
    head = ["shape", "M"] + cols
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in dict.fromkeys((r.preset, r.shape, r.m) for r in recs):
        cells = []
        for c in cols:
            r = next((r for r in recs if (r.preset, r.shape, r.m) == key and label(r) == c), None)
            if r is None:
                cells.append("")
            else:
                rate = f"{r.tflop_s:.0f}TF" if prefill else f"{r.tb_s:.2f}"
                cells.append(f"{r.us:.1f}/{rate}" + ("" if r.ok else "!"))
        lines.append(f"| {key[0]} {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def decode_bench_parser(description: str, reps: int) -> argparse.ArgumentParser:
    """The options of the benchmarks that time decode kernels over weight copies past L2 (bench_w4_mma.py,
    bench_decode_gemm.py): --out, --presets, --rows, --reps, --rotate-mb, --tolerance."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--presets", type=lambda s: s.split(","), default=["2b", "7b"])
    parser.add_argument("--rows", type=lambda s: [int(v) for v in s.split(",")], default=[1, 16])
    parser.add_argument("--reps", type=int, default=reps)
    parser.add_argument("--rotate-mb", type=float, default=256, help="weight copies enough to pass L2")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest relative error timed")
    return parser


def save_run(out: pathlib.Path, name: str, records: list, text: str, echo: bool = True) -> None:
    """A decode benchmark's run into ``out``: ``name``.json (this machine's environment and the records) and
    table.md (``text``, also printed where ``echo``)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(dict(env=environment(), records=records), indent=1))
    (out / "table.md").write_text(text + "\n")
    if echo:
        print(text)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--presets", default="2b,7b")
    ap.add_argument("--rows", default=",".join(map(str, DECODE_ROWS + PREFILL_ROWS)))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--shapes", default="", help="comma list of projections (default: all of SHAPES)")
    ap.add_argument(
        "--variants", default="", help="comma list of variants, e.g. vlmq,vlmq-fused (default: every variant)"
    )
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--rotate-mb", type=float, default=256)
    ap.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="stop timing new cases after this many seconds (default 300; 75 with --quick)",
    )
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1), help="parallel compile workers")
    ap.add_argument("--sweep", action="store_true", help="time tile / split configurations of the decode kernels")
    ap.add_argument(
        "--fused",
        action="store_true",
        help="sweep: time each decode candidate in the fused form the engine runs for the shape (RMSNorm prologue, "
        "SiLU·mul, residual add), not the plain op",
    )
    ap.add_argument(
        "--frag-only",
        action="store_true",
        help="decode rows: time only the fragment-order int4 tiles against the default (the table's tile)",
    )
    ap.add_argument(
        "--new-only",
        action="store_true",
        help="decode rows: time only the CUDA-core tiles that no sweep recorded under benchmarks/results timed, "
        "against the default (the table's tile)",
    )
    ap.add_argument(
        "--wide-k-only",
        action="store_true",
        help="decode rows: time only the int4 fragment-order tiles of two or four groups a K tile, and a "
        "tensor-core default with more stages, against the default (the table's tile)",
    )
    ap.add_argument(
        "--ahead-only",
        action="store_true",
        help="decode rows: time only the CUDA-core tiles in one K slice whose next K tile is in flight while one is "
        "used (pipe, or stages), against the default (the table's tile)",
    )
    ap.add_argument(
        "--splits-only",
        action="store_true",
        help="decode rows: time only the default (the table's tile) at other K slice counts (half to twice its own)",
    )
    ap.add_argument("--quick", action="store_true", help="only the cases the defaults rest on (QUICK), ~1 min")
    ap.add_argument(
        "--write-tiles",
        metavar="SWEEP_JSON",
        nargs="+",
        help="write gemv's measured-tile table (vlmq/engine/kernels/tiles/h200.json) from sweeps' JSON and exit",
    )
    ap.add_argument(
        "--veto",
        metavar="PRESET:FORMAT:AB_JSON",
        nargs="+",
        default=[],
        help="with --write-tiles: keep the earlier sweeps' tiles of PRESET's FORMAT where the newest sweep's lost in "
        "the whole decode step (AB_JSON: bench_decode_ab.py --env VLMQ_TILES, shipped table first)",
    )
    args = ap.parse_args(argv)
    args.budget_s = args.budget_s if args.budget_s is not None else (75.0 if args.quick else 300.0)
    args.presets = [p for p in args.presets.split(",") if p]
    args.rows = tuple(int(r) for r in args.rows.split(",") if r)
    args.modes = [m for m in args.modes.split(",") if m]
    args.shapes = [s for s in args.shapes.split(",") if s]
    args.variants = [v for v in args.variants.split(",") if v]
    known = sorted({shape for shapes in SHAPES.values() for shape in shapes})
    if set(args.shapes) - set(known):
        ap.error(f"--shapes takes projections of {','.join(known)}, got {','.join(args.shapes)}")
    variants = {
        "cublas",
        "vlmq",
        "vlmq-nopdl",
        "vlmq-fused",
        "vlmq-alt",
        "vlmq-prologue",
        "vlmq-normfirst",
        "vlmq-xfrag",
        "legacy",
    }
    unknown = [v for v in args.variants if v.split(":")[0] not in variants | {"prefill"}]
    if unknown:
        ap.error(f"--variants takes {','.join(sorted(variants))} or prefill:<path>, got {','.join(unknown)}")
    if args.veto and not args.write_tiles:
        ap.error("--veto applies to --write-tiles: give the sweeps too")
    if args.frag_only + args.new_only + args.wide_k_only + args.ahead_only + args.splits_only > 1:
        ap.error(
            "--frag-only, --new-only, --wide-k-only, --ahead-only and --splits-only each keep one kind of tile: give "
            "one, in separate sweeps"
        )
    return args


def environment() -> dict:
    import triton

    return {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda s: print(s, flush=True)  # noqa: E731
    if args.write_tiles:
        from vlmq.engine.kernels.gemv import TILES_FILE

        try:
            vetoes = [engine_veto(text, args.write_tiles[-1]) for text in args.veto]
        except ValueError as err:
            log(f"bench_kernels: {err}")
            return 2
        try:
            sweeps = [json.loads(pathlib.Path(p).read_text()) for p in args.write_tiles]
            current = json.loads(TILES_FILE.read_text())
            # an earlier veto stays while its sweep is still given; a new one applies to the newest sweep
            vetoed = [v for v in current.get("vetoed", []) if v["source"] in args.write_tiles] + vetoes
            tiles = tiles_from_sweep(sweeps, args.write_tiles, vetoed)
            # the prefill GEMM's tiles (bench_prefill_gemm.py --write-tiles) stay, from their recorded runs
            from bench_prefill_gemm import reapply_recorded

            shipped = current.get("prefill_gemm_sources", [])
            root = pathlib.Path(__file__).resolve().parents[1]
            tiles = reapply_recorded({**tiles, "prefill_gemm_sources": shipped}, root) if shipped else tiles
            # the int4 tensor-core GEMV's adopted entries stay, with the run and the A/Bs they come from
            tiles |= {key: current[key] for key in ("w4_mma_source", "w4_mma_adopted", "w4_mma") if key in current}
        except (OSError, ValueError, KeyError, TypeError) as err:
            why = f"{type(err).__name__}: {err}"
            log(f"bench_kernels: cannot read the sweeps ({why}); pass the bench_kernels_sweep.json files --sweep wrote")
            return 2
        TILES_FILE.write_text(json.dumps(tiles, indent=1) + "\n")
        log(
            " + ".join(f"{len(v)} {k}" for k, v in tiles.items() if k.startswith(("sum_", "dot_", "prefill")))
            + f" measured tiles -> {TILES_FILE}"
        )
        for line in tile_changes(current, tiles):
            log(f"  {line}")
        return 0
    if not torch.cuda.is_available():
        log("bench_kernels: no CUDA device here; the kernels' speed can only be measured on a GPU")
        return 2
    env = environment()
    log(f"bench_kernels on {env['device']} (torch {env['torch']}, triton {env['triton']})")
    t0 = time.monotonic()
    if args.sweep:
        save = lambda results: (out / "bench_kernels_sweep.json").write_text(  # noqa: E731
            json.dumps({**env, "results": results}, indent=1)
        )
        save(run_sweep(args, log, save))
        return 0
    cases = quick_plan() if args.quick else plan(args.presets, args.rows, args.modes, args.shapes, args.variants)
    if args.jobs > 1:
        log(f"compiled in {args.jobs} workers: {precompile(cases, args.jobs):.0f} s")
    records = []
    for case in cases:
        preset, shape, n, k, m, variant, mode = case
        rec = Record(
            preset, shape, n, k, m, variant, mode, weight_bytes(MODES[mode][0], n, k), config=describe_config(case)
        )
        try:
            rec.rel_err, rec.ok = check(case, "cuda")
            if time.monotonic() - t0 > args.budget_s:
                rec.note = "not timed: time budget"
            else:
                measure(case, rec, args)
        except Exception as err:  # noqa: BLE001 - one failing variant must not lose the others
            rec.ok, rec.note = False, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
        records.append(rec)
        us = f"{rec.us:8.1f} us {rec.tb_s:5.2f} TB/s" if rec.us is not None else f"{'-':>8}         "
        tf = f" {rec.tflop_s:6.1f} TF/s" if rec.tflop_s else ""
        err = f"err {rec.rel_err:.1e}" if rec.rel_err is not None else ""
        log(f"{preset} {shape:8} m={m:<5} {mode:10} {variant:24} {us}{tf} {err} {'' if rec.ok else 'FAIL'} {rec.note}")
        (out / "bench_kernels.json").write_text(
            json.dumps(  # after every case: a killed run keeps what it measured
                {**env, "args": vars(args), "tolerance": TOLERANCE, "records": [asdict(r) for r in records]}, indent=1
            )
        )
    for rows, prefill, title in (
        (DECODE_ROWS[:1], False, "decode M=1"),
        (DECODE_ROWS[1:], False, "decode M=16"),
        (PREFILL_ROWS, True, "prefill"),
    ):
        text = table(records, rows, prefill)
        (out / f"table_{title.replace(' ', '_').replace('=', '')}.md").write_text(text + "\n")
        unit = "TFLOP/s" if prefill else "TB/s of weight bytes"
        log(f"\n{title}: µs per call / {unit} ('!' = wrong result)\n{text}")
    failed = [r for r in records if not r.ok]
    log(f"\n{len(records)} cases, {len(failed)} failed, {time.monotonic() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
