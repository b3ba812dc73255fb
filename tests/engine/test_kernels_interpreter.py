"""vlmq's Triton kernels against their references on a CPU, through Triton's interpreter (TRITON_INTERPRET=1).

The cases run in one subprocess (the interpreter must be chosen before Triton loads); this file is that
subprocess's script too, and makes the interpreter round and multiply bf16 as the GPU does
(``gpu_like_interpreter``). Shapes are small and deliberately ragged: M not a multiple of the row tile, N
not a multiple of the program's rows, K not a multiple of the K tile; group 64 and 128, asymmetric and
symmetric int4; split K on and off; every activation mode (float, int8 / FP8 given, int8 / FP8
quantized from float rows by ``normalize_rows``) and every fusion (RMSNorm and SmoothQuant prologue,
SiLU·mul and residual epilogues), in fp32 and in bf16.

Tolerances (relative error of the output against ``fused_linear_reference``): 1e-5 wherever kernel and reference
round at the same places, which now includes W8A8 from float rows (the prologue quantizes the same rounded values to
the same codes; measured <= 7e-7, accumulation order, on these cases' data: the prologue sums a row's statistics in
another order than ``normalize_rows``, so an activation within rounding of a code boundary can take the neighbouring
code -- seen once, 5.5e-4 at K = 1024, M 2, fp32, with other data); 2e-3 for bf16 outputs (the two fp32 sums, in
different orders, may round to neighbouring bf16 values in a few outputs); 5e-3 for bf16 outputs through SiLU·mul or
the residual add (the reference rounds the linear's output to bf16 before them, the kernels do not: up to three more
roundings of 2^-9; measured 1.9e-3); 5e-3 for bf16 int4 ``post`` tiles (the reference rounds every dequantized
weight to bf16, ``post`` multiplies exact codes and scales the sums: against an fp64 product of the unrounded
weights it is the closer one, 1.7e-3 vs the reference's 2.3e-3, M16 N72 K512). The prologue itself is checked bit
for bit (``normalize_rows`` cases). Skipped where Triton is not installed.
"""

import json
import os
import sys

import pytest

# (name, format, M, N, K, a_mode, kernel, options); options: split, norm, act, resid, group, zero, pre, vec,
# dtype, row_scale, smooth, the CUDA-core tile's rows, warps, pipe, and the tensor-core tile's swap, post, frag,
# block_n, warps, block_m
CASES = [
    ("sum/bf16", "float", 1, 40, 300, "bf16", "sum", dict(dtype="bf16")),
    ("sum/f32 split", "float", 1, 40, 600, "bf16", "sum", dict(split=2)),
    ("sum/f32 row scales", "float", 2, 24, 256, "bf16", "sum", dict(row_scale=True)),
    ("sum/f32 M3 norm act resid", "float", 3, 40, 300, "bf16", "sum", dict(norm=True, act=True, resid=True, split=2)),
    ("sum/int8 w8a16 split", "int8", 1, 48, 520, "bf16", "sum", dict(split=2)),
    ("sum/int8 w8a8 in-kernel norm resid", "int8", 2, 48, 520, "int8", "sum", dict(norm=True, resid=True)),
    ("sum/int8 w8a8 given", "int8", 2, 24, 256, "int8", "sum", dict(pre=True)),
    ("sum/int8 w8a8 norm + smoothing", "int8", 1, 24, 256, "int8", "sum", dict(norm=True, smooth=True)),
    ("sum/fp8 w8a8 smoothing only resid", "fp8", 2, 24, 256, "fp8", "sum", dict(smooth=True, resid=True)),
    ("sum/fp8 w8a16 act", "fp8", 1, 48, 520, "bf16", "sum", dict(act=True)),
    ("sum/fp8 w8a8 in-kernel norm act split", "fp8", 3, 48, 520, "fp8", "sum", dict(norm=True, act=True, split=2)),
    ("sum/fp8 w8a8 given", "fp8", 1, 24, 256, "fp8", "sum", dict(pre=True)),
    ("sum/int4 g128 asym split vec2", "int4", 1, 40, 1024, "bf16", "sum", dict(group=128, split=2, vec=2)),
    (
        "sum/int4 g64 sym M3 norm act resid",
        "int4",
        3,
        40,
        256,
        "bf16",
        "sum",
        dict(group=64, zero=False, norm=True, act=True, resid=True, vec=1),
    ),
    ("sum/int4 g64 asym vec4", "int4", 2, 24, 512, "bf16", "sum", dict(group=64, vec=4)),
    # the tiles measured best on the H200 (gemv.measured_tiles): 4-8 rows, 1-4 warps, the next tile in flight
    (
        "sum/bf16 tuned 4 rows 4 warps pipe norm",
        "float",
        1,
        40,
        1100,
        "bf16",
        "sum",
        dict(dtype="bf16", norm=True, rows=4, warps=4, vec=1, pipe=True),
    ),
    ("sum/int8 tuned 8 rows act", "int8", 1, 48, 520, "bf16", "sum", dict(act=True, rows=8, warps=1)),
    (
        "sum/int8 tuned 4 rows 2 warps pipe resid",
        "int8",
        1,
        24,
        1040,
        "bf16",
        "sum",
        dict(resid=True, rows=4, warps=2, pipe=True),
    ),
    (
        "sum/int4 tuned 4 warps vec4 pipe",
        "int4",
        1,
        24,
        1024,
        "bf16",
        "sum",
        dict(group=128, rows=4, warps=4, vec=4, pipe=True),
    ),
    (  # the next tile's words in flight (four K tiles a slice, a group each)
        "sum/int4 pipe g64 asym M2 split four tiles",
        "int4",
        2,
        24,
        4096,
        "bf16",
        "sum",
        dict(group=64, rows=4, warps=1, vec=2, pipe=True, split=2),
    ),
    # K ending in a part tile run as a narrower tile (gemv.tail_vec): 2 and 1 word columns of vec 4, 1 of vec 2
    (
        "sum/int4 tail 2 words K1536 M2 norm act resid",
        "int4",
        2,
        48,
        1536,
        "bf16",
        "sum",
        dict(group=128, rows=8, warps=1, vec=4, norm=True, act=True, resid=True),
    ),
    (
        "sum/int4 tail 1 word K1280 g64 sym",
        "int4",
        1,
        40,
        1280,
        "bf16",
        "sum",
        dict(group=64, zero=False, rows=8, vec=4),
    ),
    ("sum/int8 tail 1 word K384 vec2", "int8", 1, 48, 384, "bf16", "sum", dict(rows=8, warps=1, vec=2)),
    # the RMSNorm deferred ($VLMQ_NORM_DEFER: the multiplier on the sums, squares gathered per lane; fp32 rows
    # round nowhere else, so the exact tolerance holds): float, int8 and int4 weights, a tail tile, the pipeliner
    (
        "sum/f32 M3 norm deferred pipe",
        "float",
        3,
        40,
        1100,
        "bf16",
        "sum",
        dict(norm=True, rows=4, warps=4, vec=1, pipe=True, defer=True),
    ),
    ("sum/int8 w8a16 M2 norm act deferred", "int8", 2, 48, 520, "bf16", "sum", dict(norm=True, act=True, defer=True)),
    (
        "sum/int4 tail 2 words K1536 M2 norm act resid deferred",
        "int4",
        2,
        48,
        1536,
        "bf16",
        "sum",
        dict(group=128, rows=8, warps=1, vec=4, norm=True, act=True, resid=True, defer=True),
    ),
    (
        "sum/int4 g64 sym M3 norm deferred 3 stages",
        "int4",
        3,
        40,
        512,
        "bf16",
        "sum",
        dict(group=64, zero=False, norm=True, vec=2, stages=3, defer=True),
    ),
    # K tiles through Triton's software pipeliner (stages > 1: loaded at the top of the loop), with a tail, a ragged N,
    # split K, int4 with zero points and RMSNorm / SiLU·mul / residual, int8 W8A8 from float rows
    (
        "sum/int4 stages 3 tail 2 words K1536 M2 norm act resid",
        "int4",
        2,
        48,
        1536,
        "bf16",
        "sum",
        dict(group=128, rows=8, warps=1, vec=4, stages=3, norm=True, act=True, resid=True),
    ),
    ("sum/int4 stages 4 ragged N split", "int4", 1, 20, 2048, "bf16", "sum", dict(group=64, vec=2, stages=4, split=2)),
    (
        "sum/bf16 stages 3 K1100 norm act",
        "float",
        1,
        40,
        1100,
        "bf16",
        "sum",
        dict(dtype="bf16", rows=4, warps=4, vec=1, stages=3, norm=True, act=True),
    ),
    # eight warps: one K tile of 2048 values holds the whole row (loaded before the PDL wait), here 1536 of them
    (
        "sum/bf16 whole row 8 warps norm resid",
        "float",
        1,
        40,
        1536,
        "bf16",
        "sum",
        dict(dtype="bf16", rows=8, warps=8, vec=1, norm=True, resid=True),
    ),
    (
        "sum/bf16 stages 4 M2 split resid",
        "float",
        2,
        24,
        2048,
        "bf16",
        "sum",
        dict(dtype="bf16", rows=8, warps=1, vec=1, stages=4, split=2, resid=True),
    ),
    (
        "sum/int8 w8a8 stages 3 vec4 norm resid",
        "int8",
        1,
        24,
        1536,
        "int8",
        "sum",
        dict(rows=4, warps=2, vec=4, stages=3, norm=True, resid=True),
    ),
    # FP8 W8A8 through the pipeliner (the one-row sweep proposes it since the forty-ninth session): float rows
    # quantized in the prologue, and down_proj's quantized tile by tile with the rows' maxima (``x_row_max``)
    (
        "sum/fp8 w8a8 stages 4 M2 norm",
        "fp8",
        2,
        24,
        1024,
        "fp8",
        "sum",
        dict(rows=8, warps=1, vec=1, stages=4, norm=True),
    ),
    (
        "sum/fp8 w8a8 row maxima stages 3 resid",
        "fp8",
        1,
        24,
        1536,
        "fp8",
        "sum",
        dict(rows=4, warps=1, vec=1, stages=3, resid=True, row_max=True),
    ),
    # int8 at four words a lane (128-bit loads), W8A16 with a tail of 2 and W8A8 from float rows
    ("sum/int8 vec4 tail 2 words K768 act", "int8", 1, 48, 768, "bf16", "sum", dict(rows=8, warps=1, vec=4, act=True)),
    (
        "sum/int8 w8a8 vec4 norm resid",
        "int8",
        2,
        24,
        512,
        "int8",
        "sum",
        dict(rows=4, warps=1, vec=4, norm=True, resid=True),
    ),
    (
        "dot/f32 M5 norm act resid split",
        "float",
        5,
        40,
        300,
        "bf16",
        "dot",
        dict(norm=True, act=True, resid=True, split=2),
    ),
    ("dot/int8 w8a16 M17", "int8", 17, 48, 520, "bf16", "dot", dict()),
    ("dot/f32 row scales M6", "float", 6, 24, 256, "bf16", "dot", dict(row_scale=True)),
    ("dot/int8 w8a8 in-kernel norm M6 split", "int8", 6, 48, 520, "int8", "dot", dict(norm=True, split=2)),
    ("dot/int8 w8a8 given M20", "int8", 20, 24, 256, "int8", "dot", dict(pre=True)),
    ("dot/fp8 w8a8 in-kernel M7 act", "fp8", 7, 48, 520, "fp8", "dot", dict(act=True)),
    ("dot/fp8 w8a8 given M9 split", "fp8", 9, 24, 256, "fp8", "dot", dict(pre=True, split=2)),
    ("dot/int8 w8a8 smoothing only M6", "int8", 6, 24, 256, "int8", "dot", dict(smooth=True)),
    ("dot/int4 g64 asym M9 split", "int4", 9, 40, 512, "bf16", "dot", dict(group=64, split=2)),
    (
        "dot/int4 g128 sym M33 act resid",
        "int4",
        33,
        40,
        256,
        "bf16",
        "dot",
        dict(group=128, zero=False, act=True, resid=True),
    ),
    # swapped operands (weights x activations^T) and int4 group scales applied to the sums (``post``)
    (
        "dot/f32 swap M5 norm act resid split",
        "float",
        5,
        40,
        300,
        "bf16",
        "dot",
        dict(norm=True, act=True, resid=True, split=2, swap=True),
    ),
    ("dot/bf16 swap M16", "float", 16, 72, 256, "bf16", "dot", dict(dtype="bf16", swap=True)),
    ("dot/int8 w8a8 swap given M20", "int8", 20, 24, 256, "int8", "dot", dict(pre=True, swap=True)),
    ("dot/int8 w8a16 swap M9", "int8", 9, 48, 520, "bf16", "dot", dict(swap=True)),
    ("dot/fp8 w8a8 swap in-kernel M7 act", "fp8", 7, 48, 520, "fp8", "dot", dict(act=True, swap=True)),
    ("dot/int4 g64 asym post M9 split", "int4", 9, 40, 512, "bf16", "dot", dict(group=64, split=2, post=True)),
    (
        "dot/int4 g128 sym post swap M16 resid",
        "int4",
        16,
        40,
        384,
        "bf16",
        "dot",
        dict(group=128, zero=False, resid=True, post=True, swap=True),
    ),
    ("dot/int4 g128 asym swap M3", "int4", 3, 40, 256, "bf16", "dot", dict(group=128, swap=True)),
    (
        "dot/int4 g128 asym bf16 post swap M16",
        "int4",
        16,
        72,
        512,
        "bf16",
        "dot",
        dict(group=128, dtype="bf16", post=True, swap=True),
    ),
    # int4 in MMA fragment order (``frag``): K permuted within each tile, activations gathered to match
    ("dot/int4 g64 asym frag M9 split", "int4", 9, 40, 512, "bf16", "dot", dict(group=64, split=2, frag=True)),
    (
        "dot/int4 g128 sym frag post M16",
        "int4",
        16,
        72,
        384,
        "bf16",
        "dot",
        dict(group=128, zero=False, post=True, frag=True, block_n=32),
    ),
    (
        "dot/int4 g128 asym bf16 frag post swap M16 split",
        "int4",
        16,
        72,
        512,
        "bf16",
        "dot",
        dict(group=128, dtype="bf16", post=True, swap=True, frag=True, split=2),
    ),
    (
        "dot/int4 g64 sym frag swap M9",
        "int4",
        9,
        40,
        256,
        "bf16",
        "dot",
        dict(group=64, zero=False, swap=True, frag=True),
    ),
    (
        "dot/int4 g128 asym frag post swap 8 warps M16 act resid",
        "int4",
        16,
        136,
        256,
        "bf16",
        "dot",
        dict(group=128, act=True, resid=True, post=True, swap=True, frag=True, block_n=128, warps=8),
    ),
    (  # 7b's K (3584: 28 groups) in 4 slices, the swapped two-warpgroup tile of 256 rows
        "dot/int4 g128 asym bf16 frag post swap M16 K3584 split",
        "int4",
        16,
        256,
        3584,
        "bf16",
        "dot",
        dict(group=128, dtype="bf16", post=True, swap=True, frag=True, split=4, block_n=256, warps=8),
    ),
    # fragment-order tiles spanning two or four groups (the scales applied in registers, per chunk of a lane's words)
    (
        "dot/int4 g128 asym frag swap M16 two groups split",
        "int4",
        16,
        72,
        1024,
        "bf16",
        "dot",
        dict(group=128, swap=True, frag=True, block_k=256, split=2),
    ),
    (
        "dot/int4 g64 sym frag M9 four groups",
        "int4",
        9,
        40,
        512,
        "bf16",
        "dot",
        dict(group=64, zero=False, frag=True, block_k=256),
    ),
    (
        "dot/int4 g128 asym bf16 frag swap M16 four groups resid",
        "int4",
        16,
        64,
        1024,
        "bf16",
        "dot",
        dict(group=128, dtype="bf16", swap=True, frag=True, block_k=512, resid=True),
    ),
    ("prefill-triton/int4 g128 M70", "int4", 70, 24, 256, "bf16", "prefill", dict(group=128)),
    ("prefill-triton/int8 w8a8 M70", "int8", 70, 24, 256, "int8", "prefill", dict(pre=True)),
    # bf16 rows: Qwen2RMSNorm's two roundings, in the CUDA-core prologue and in normalize_rows
    ("sum/bf16 norm M2", "float", 2, 40, 300, "bf16", "sum", dict(dtype="bf16", norm=True, split=2)),
    ("sum/int8 w8a8 bf16 norm M1", "int8", 1, 48, 520, "int8", "sum", dict(dtype="bf16", norm=True)),
    # W8A8 from float rows in the CUDA-core prologue, rows longer than one statistics block (2048 / rows columns)
    (
        "sum/int8 w8a8 bf16 norm + smoothing M4 K5000",
        "int8",
        4,
        24,
        5000,
        "int8",
        "sum",
        dict(dtype="bf16", norm=True, smooth=True),
    ),
    ("sum/fp8 w8a8 smoothing M1 K3000 split", "fp8", 1, 24, 3000, "fp8", "sum", dict(smooth=True, split=2)),
    ("dot/bf16 norm act M5", "float", 5, 40, 300, "bf16", "dot", dict(dtype="bf16", norm=True, act=True)),
    (
        "dot/fp8 w8a8 bf16 norm + smoothing M6",
        "fp8",
        6,
        24,
        256,
        "fp8",
        "dot",
        dict(dtype="bf16", norm=True, smooth=True),
    ),
    # prefill GEMM tiles of 64 rows with K in slices (the measured tiles of the 2b's small W8A8 shapes)
    (
        "dot/int8 w8a8 GEMM tile 64 rows split M70",
        "int8",
        70,
        24,
        512,
        "int8",
        "dot",
        dict(pre=True, block_m=64, split=2),
    ),
    (
        "dot/fp8 w8a8 GEMM tile 64 rows split M130",
        "fp8",
        130,
        40,
        512,
        "fp8",
        "dot",
        dict(pre=True, block_m=64, split=4),
    ),
    # last, as every case draws from one random stream (earlier cases keep their data): the prefill sweep's
    # swapped GEMM tiles (128 activation rows, the weights the MMA's register operand)
    ("dot/int8 w8a16 GEMM tile swapped M70", "int8", 70, 24, 256, "bf16", "dot", dict(swap=True)),
    ("dot/int4 g128 GEMM tile swapped M70", "int4", 70, 24, 256, "bf16", "dot", dict(group=128, swap=True)),
    # the RMSNorm in normalize_rows first (gemv's norm_first), then the CUDA-core kernel with the epilogue
    (
        "sum/f32 norm first act",
        "float",
        1,
        40,
        300,
        "bf16",
        "sum",
        dict(norm=True, act=True, norm_first=True),
    ),
    (
        "sum/int8 w8a16 norm first act",
        "int8",
        1,
        48,
        520,
        "bf16",
        "sum",
        dict(norm=True, act=True, norm_first=True),
    ),
    (
        "sum/int4 g64 norm first act",
        "int4",
        2,
        40,
        256,
        "bf16",
        "sum",
        dict(group=64, norm=True, act=True, vec=1, norm_first=True),
    ),
]
TOLERANCE = {"bf16": 2e-3, "bf16 epilogue": 5e-3, "exact": 1e-5}  # the module doc says why (also for post)


def _tolerance(a_mode, opts):
    if opts.get("dtype") != "bf16":
        return TOLERANCE["exact"]
    return TOLERANCE["bf16 epilogue" if opts.get("act") or opts.get("resid") or opts.get("post") else "bf16"]


def _run_case(fmt, m, n, k, a_mode, kernel, opts):
    import torch

    from vlmq.engine.kernels import fused_linear_reference, pack_int4, quantize_activation
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import ACT_NONE, ACT_SILU_MUL, dot_config, gemv, sum_config, weight_format
    from vlmq.engine.kernels.prefill import prefill_linear

    dt = torch.bfloat16 if opts.get("dtype") == "bf16" else torch.float32
    group = opts.get("group", 0)
    x = torch.randn(m, k, dtype=dt)
    norm = (torch.rand(k) + 0.5).to(dt) if opts.get("norm") else None
    pre = (torch.rand(k) + 0.5).to(dt) if opts.get("smooth") else None  # SmoothQuant's activation pre-scale
    bias = torch.randn(n, dtype=dt)
    scale = zero = None
    if fmt == "float":
        w = (torch.randn(n, k) * 0.05).to(dt)
        scale = torch.rand(n) + 0.5 if opts.get("row_scale") else None
    elif fmt == "int8":
        w, scale = torch.randint(-128, 128, (n, k), dtype=torch.int8), torch.rand(n) * 0.01
    elif fmt == "fp8":
        w, scale = (torch.randn(n, k) * 50).clamp(-440, 440).to(torch.float8_e4m3fn), torch.rand(n) * 0.01
    else:
        w = pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8))
        scale = (torch.rand(n, k // group) * 0.02).to(dt)
        zero = torch.randint(-8, 8, (n, k // group), dtype=torch.int8) if opts.get("zero", True) else None
    act = "silu_mul" if opts.get("act") else "none"
    n_out = n // 2 if opts.get("act") else n
    resid = torch.randn(m, n_out, dtype=dt) if opts.get("resid") else None
    x_in, x_scale = quantize_activation(x, a_mode) if opts.get("pre") else (x, None)
    ref = fused_linear_reference(x_in, w, scale, zero, group, bias, x_scale, a_mode, norm, 1e-6, pre, act, resid, dt)
    if kernel == "prefill":
        out = prefill_linear(x_in, w, scale, zero, group, bias, x_scale, dt, path="triton")
    else:
        wf = weight_format(w)
        cfg = (
            sum_config(
                wf,
                m,
                n,
                k,
                split=opts.get("split", 1),
                vec=opts.get("vec", 2),
                rows=opts.get("rows"),
                warps=opts.get("warps", 1),
                stages=opts.get("stages", 1),
            )._replace(pipe=opts.get("pipe", False))
            if kernel == "sum"
            else dot_config(
                wf,
                m,
                n,
                k,
                group,
                split=opts.get("split", 1),
                swap=opts.get("swap", False),
                post=opts.get("post", False),
                frag=opts.get("frag", False),
                block_n=opts.get("block_n", 64),
                block_k=opts.get("block_k", 128),
                warps=opts.get("warps", 4),
                block_m=opts.get("block_m"),
            )
        )
        kwargs = dict(
            x_scale=x_scale,
            a_mode=A_MODE_CODES[a_mode],
            norm_weight=norm,
            eps=1e-6,
            pre_scale=pre,
            act=ACT_SILU_MUL if opts.get("act") else ACT_NONE,
            residual=resid,
            out_dtype=dt,
            norm_first=opts.get("norm_first"),
            norm_defer=opts.get("defer", False),
            x_row_max=x.float().abs().amax(dim=1) if opts.get("row_max") else None,
        )
        out = gemv(x_in, w, scale, zero, group, bias, config=cfg, **kwargs)
        if cfg.split_k > 1:  # the last slice reset the semaphores: a second launch gives the same result
            again = gemv(x_in, w, scale, zero, group, bias, config=cfg, **kwargs)
            assert torch.equal(out, again), "split-K result changed on a second launch"
    assert out.shape == ref.shape and torch.isfinite(out).all()
    return ((out.float() - ref.float()).norm() / ref.float().norm()).item()


def _run_extras():
    """Exact checks: the int4 dequantize kernel against w4's reference, bit for bit, in fp32 (the interpreter
    truncates fp32 → bf16 casts where GPUs round to nearest; the GPU test checks bf16)."""
    import torch

    from vlmq.engine.kernels import dequantize_int4, pack_int4
    from vlmq.engine.kernels.prefill import dequantize_int4_cuda

    errors = {}
    for group, zero in ((64, True), (128, False)):
        packed = pack_int4(torch.randint(-8, 8, (40, 256), dtype=torch.int8))
        scale = torch.rand(40, 256 // group, dtype=torch.bfloat16)
        zp = torch.randint(-8, 8, (40, 256 // group), dtype=torch.int8) if zero else None
        got = dequantize_int4_cuda(packed, scale, zp, group, torch.float32)
        ref = dequantize_int4(packed, scale, zp, group, torch.float32)
        errors[f"dequant-int4 g{group}"] = float((got - ref).abs().max())
    buf = torch.full((40, 256), float("nan"))  # into a caller's buffer (a scratch reused layer after layer)
    got = dequantize_int4_cuda(packed, scale, zp, group, torch.float32, out=buf)
    errors["dequant-int4 out"] = float((buf - ref).abs().max()) if got is buf else float("inf")
    from vlmq.engine.kernels.prefill import dequantize_w8_cuda

    scale = torch.rand(40) * 0.01
    for name, q in (
        ("int8", torch.randint(-128, 128, (40, 300), dtype=torch.int8)),
        ("fp8", (torch.randn(40, 300) * 50).clamp(-440, 440).to(torch.float8_e4m3fn)),
    ):
        got = dequantize_w8_cuda(q, scale, torch.bfloat16)
        want = (q.float() * scale[:, None]).bfloat16()
        errors[f"dequant-w8 {name}"] = float((got.float() - want.float()).abs().max())
    # into a caller's buffer (a scratch reused layer after layer): the same values, in that buffer
    buf = torch.full((40, 300), float("nan"), dtype=torch.bfloat16)
    got = dequantize_w8_cuda(q, scale, torch.bfloat16, out=buf)
    want = (q.float() * scale[:, None]).bfloat16()
    errors["dequant-w8 out"] = float((buf.float() - want.float()).abs().max()) if got is buf else float("inf")
    try:
        dequantize_w8_cuda(q, scale, torch.bfloat16, out=buf[:, :299])
        errors["dequant-w8 bad out refused"] = 1.0
    except ValueError:
        errors["dequant-w8 bad out refused"] = 0.0
    # weight-only prefill in slices of output rows (dequant_linear): 200 rows in 64-row slices (the last one short),
    # against the whole weight dequantized and multiplied once; with and without bias
    from vlmq.engine.kernels.prefill import dequant_linear, dequant_slices

    x = torch.randn(20, 256)
    bias = torch.randn(200)
    int8 = torch.randint(-128, 128, (200, 256), dtype=torch.int8), torch.rand(200) * 0.01
    int4 = pack_int4(torch.randint(-8, 8, (200, 256), dtype=torch.int8)), torch.rand(200, 4) * 0.02
    zp = torch.randint(-8, 8, (200, 4), dtype=torch.int8)
    small = 64 * 256 * 2  # one 64-row slice
    errors["dequant slices"] = float(dequant_slices(200, 256, small)[0] != (0, 64))
    for name, (w, sc), z, whole in (
        ("int8", int8, None, int8[0].float() * int8[1][:, None]),
        ("int4", int4, zp, dequantize_int4(int4[0], int4[1], zp, 64, torch.float32)),
    ):
        for b in (None, bias):
            got = dequant_linear(x, w, sc, z, 64, b, torch.float32, chunk_bytes=small)
            want = x @ whole.t() + (b if b is not None else 0)
            errors[f"dequant-linear {name}{' bias' if b is not None else ''}"] = float((got - want).abs().max())
    # CUTLASS's int4 group terms in one kernel: ragged [N, G] (N = 100 not a multiple of 64, G = 37 of 32), scales
    # spanning many binades (the zero term's bf16 rounding at every exponent), with and without zero points
    from vlmq.engine.kernels.cutlass_gemm import w4_group_terms, w4_group_terms_reference

    scale = (torch.rand(100, 37) * 2.0 ** torch.randint(-12, 4, (100, 37))).bfloat16()
    for name, z in (("zero", torch.randint(-8, 8, (100, 37), dtype=torch.int8)), ("symmetric", None)):
        got, want = w4_group_terms(scale, z), w4_group_terms_reference(scale, z)
        same = all(g.shape == w.shape and g.dtype == w.dtype and torch.equal(g, w) for g, w in zip(got, want))
        errors[f"group-terms {name}"] = 0.0 if same else 1.0
    # the shuffled int4 layout in one kernel: shapes that fill neither a program's 64 rows nor its 128 columns, into
    # a given output
    from vlmq.engine.kernels.cutlass_gemm import w4_shuffle, w4_shuffle_reference

    for n, k in ((64, 128), (48, 192), (128, 320)):
        packed = torch.randint(-(2**31), 2**31 - 1, (n, k // 8), dtype=torch.int64).to(torch.int32)
        out = torch.full_like(packed, 7)
        same = w4_shuffle(packed, out=out) is out and torch.equal(out, w4_shuffle_reference(packed))
        errors[f"shuffle {n}x{k}"] = 0.0 if same and not torch.equal(out, packed) else 1.0
    return errors


def _run_quotient():
    """``exact_quotient`` against IEEE division (torch on the CPU) on 200k hard pairs: how many quotients differ
    in any bit, and how many a multiply by the reciprocal alone gets wrong."""
    import torch
    from quotient_probe import exact_quotients, hard_quotient_cases  # this directory is on sys.path

    x, d = hard_quotient_cases(200_000, seed=1)
    want = (x / d).view(torch.int32)
    return {
        "exact": int((exact_quotients(x, d).view(torch.int32) != want).sum()),
        "multiply": int(((x * (1.0 / d)).view(torch.int32) != want).sum()),
    }


def _run_prologue():
    """``normalize_rows`` against the reference's prologue (rms_norm_reference, x * pre_scale,
    quantize_activation), on bf16 rows of K = 5000 (in registers, and as two 4096-column blocks): how many
    values and scales differ."""
    import torch

    from vlmq.engine.kernels import quantize_activation, rms_norm_reference
    from vlmq.engine.kernels.gemv import A_FLOAT, A_FP8, A_INT8, normalize_rows

    x, g = (torch.randn(3, 5000) * 3).bfloat16(), (torch.rand(5000) + 0.5).bfloat16()
    pres = {"": None, " bf16 pre-scale": (torch.rand(5000) + 0.5).bfloat16(), " fp32 pre-scale": torch.rand(5000) + 0.5}
    results = {}
    for mode, code in (("int8", A_INT8), ("fp8", A_FP8), ("bf16", A_FLOAT)):
        for label, pre in pres.items():
            for norm, block in ((g, 8192), (None, 8192), (g, 4096), (None, 4096)):
                want = rms_norm_reference(x, norm, 1e-6) if norm is not None else x
                want, want_scale = quantize_activation(want * pre if pre is not None else want, mode)
                got, got_scale = normalize_rows(x, norm, 1e-6, pre, code, max_block=block)
                name = f"{mode}{' norm' if norm is not None else ''}{label} block {block}"
                results[name] = {
                    "dtype": str(got.dtype) == str(want.dtype),
                    "values_differing": int((got.float() != want.float()).sum()),
                    "scales_equal": (got_scale is None and want_scale is None)
                    or bool(torch.equal(got_scale, want_scale)),
                }
    return results


def _run_fused_prologue():
    """W8A8 from float rows through the CUDA-core kernel's prologue against ``normalize_rows`` then the same
    kernel on the quantized rows: whether the outputs are equal (the same codes and scales, the same sums), and
    how many ``normalize_rows`` launches the fused call made."""
    import torch

    from vlmq.engine.kernels import gemv as gemv_module
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import normalize_rows, sum_config, weight_format

    launches = []

    def counted(*args, **kwargs):
        launches.append(1)
        return normalize_rows(*args, **kwargs)

    results = {}
    for mode in ("int8", "fp8"):
        for m, k, norm, smooth in ((1, 1536, True, False), (3, 1040, True, True), (2, 4100, False, True)):
            x = (torch.randn(m, k) * 3).bfloat16()
            g = (torch.rand(k) + 0.5).bfloat16() if norm else None
            pre = (torch.rand(k) + 0.5).bfloat16() if smooth else None
            if mode == "int8":
                w, scale = torch.randint(-128, 128, (16, k), dtype=torch.int8), torch.rand(16) * 0.01
            else:
                w, scale = (torch.randn(16, k) * 50).clamp(-440, 440).to(torch.float8_e4m3fn), torch.rand(16) * 0.01
            cfg = sum_config(weight_format(w), m, 16, k, split=1)
            code = A_MODE_CODES[mode]
            gemv_module.normalize_rows = counted
            try:
                fused = gemv_module.gemv(x, w, scale, a_mode=code, norm_weight=g, pre_scale=pre, config=cfg)
            finally:
                gemv_module.normalize_rows = normalize_rows
            xq, xs = normalize_rows(x, g, 1e-6, pre, code)
            given = gemv_module.gemv(xq, w, scale, x_scale=xs, config=cfg)
            name = f"{mode} M{m} K{k}{' norm' if norm else ''}{' smooth' if smooth else ''}"
            results[name] = {"equal": bool(torch.equal(fused, given)), "row_launches": len(launches)}
            launches.clear()
    return results


def _run_row_max():
    """W8A8 down_proj rows quantized with the maxima gate/up's epilogue gathered (``gemv``'s ``row_max_out`` /
    ``x_row_max``) against the same tiles with the rows quantized first: per case whether gate/up's output is
    unchanged, the gathered maxima are the rows' (after the pre-scale), the clear buffer was zeroed, and down's
    output equals the one from rows quantized first (``normalize_rows``, or the CUDA-core prologue) bit for bit."""
    import torch

    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import ACT_SILU_MUL, GEMV_MAX_M, dot_config, gemv, interleave_rows, sum_config

    results = {}
    h, inter = 96, 160  # hidden, intermediate: ragged against the tiles below
    for mode in ("int8", "fp8"):
        for m, kernel, smooth in ((1, "sum", False), (3, "sum", True), (1, "dot", True), (16, "dot", False)):
            x = (torch.randn(m, h) * 3).bfloat16()
            g = (torch.rand(h) + 0.5).bfloat16()
            pre_up = (torch.rand(h) + 0.5).bfloat16() if smooth else None
            pre_down = (torch.rand(inter) + 0.5).bfloat16() if smooth else None
            if mode == "int8":
                gu = interleave_rows(*torch.randint(-128, 128, (2, inter, h), dtype=torch.int8))
                dw = torch.randint(-128, 128, (h, inter), dtype=torch.int8)
            else:
                gu = interleave_rows(*(torch.randn(2, inter, h) * 50).clamp(-440, 440).to(torch.float8_e4m3fn))
                dw = (torch.randn(h, inter) * 50).clamp(-440, 440).to(torch.float8_e4m3fn)
            gs, ds = torch.rand(2 * inter) * 0.002, torch.rand(h) * 0.002
            resid = torch.randn(m, h).bfloat16()
            code = A_MODE_CODES[mode]

            fmt = 1 if mode == "int8" else 2  # W_INT8, W_FP8
            configs = [
                sum_config(fmt, m, n, k, split=2)
                if kernel == "sum"
                else dot_config(fmt, m, n, k, 0, split=2, swap=True, block_n=64)
                for n, k in ((2 * inter, h), (h, inter))
            ]
            up_kw = dict(a_mode=code, norm_weight=g, pre_scale=pre_up, act=ACT_SILU_MUL, config=configs[0])
            down_kw = dict(a_mode=code, pre_scale=pre_down, residual=resid, config=configs[1])
            plain_m = gemv(x, gu, gs, **up_kw)
            want = gemv(plain_m, dw, ds, **down_kw)
            row_max = torch.zeros(GEMV_MAX_M)
            clear = torch.full((GEMV_MAX_M,), 7.0)
            got_m = gemv(x, gu, gs, **up_kw, row_max_out=row_max, row_max_pre_scale=pre_down, row_max_clear=clear)
            got = gemv(got_m, dw, ds, **down_kw, x_row_max=row_max)
            v = got_m * pre_down if smooth else got_m  # bf16 x bf16: rounded to bf16, as normalize_rows rounds
            name = f"{mode} M{m} {kernel}{' smooth' if smooth else ''}"
            results[name] = {
                "gate_up_equal": bool(torch.equal(plain_m, got_m)),
                "maxima_equal": bool(torch.equal(row_max[:m], v.float().abs().amax(dim=1))),
                "others_zero": bool((row_max[m:] == 0).all()),
                "cleared": bool((clear == 0).all()),
                "down_equal": bool(torch.equal(want, got)),
            }
    return results


def _run_forwarded_norm():
    """W8A8 rows whose maxima the launch before gathered (``fused.fused_linear_gather``): an o_proj-like launch
    (residual) gathers max|h g p| of its output h (g the next RMSNorm's weight, p its pre-scale: their fp32 product
    as the gather's pre-scale), and a q/k/v-like launch quantizes x g p with those maxima, its RMSNorm deferred.
    Per case: the gathering launch's output equals the plain one's, the maxima are exactly the rows', the clear
    buffer zeroed; the deferred launch's relative difference from a torch emulation of its arithmetic (codes of
    x g p at scale max / 448 or 127, the sums times rsqrt(mean(x^2) + eps)); its and the reference's (the module's
    rounding) relative errors against the exact fp64 product; and whether a launch that cannot defer (split K, a
    tensor-core tile over several rows, rows the rule normalizes first) or that the rule keeps from them (a one-row
    tensor-core tile) ignores the maxima (equals the plain launch)."""
    import torch

    import vlmq.engine.kernels.gemv as gemv_module
    from vlmq.engine.kernels import quantize_activation
    from vlmq.engine.kernels.fused import A_MODE_CODES, fused_linear_reference
    from vlmq.engine.kernels.gemv import GEMV_MAX_M, W_FP8, W_INT8, dot_config, gemv, sum_config

    results = {}
    hidden, n = 320, 72
    for mode in ("int8", "fp8"):
        for m, smooth in ((1, False), (3, True)):
            fmt, code = (W_INT8 if mode == "int8" else W_FP8), A_MODE_CODES[mode]

            def weights(rows, cols, mode=mode):
                if mode == "int8":
                    return torch.randint(-128, 128, (rows, cols), dtype=torch.int8), torch.rand(rows) * 0.002
                w8 = (torch.randn(rows, cols) * 50).clamp(-440, 440).to(torch.float8_e4m3fn)
                return w8, torch.rand(rows) * 0.002

            ow, os_ = weights(hidden, hidden)
            w, s = weights(n, hidden)
            attn, resid = (torch.randn(m, hidden) * 3).bfloat16(), (torch.randn(m, hidden) * 3).bfloat16()
            g = (torch.rand(hidden) + 0.5).bfloat16()
            p = (torch.rand(hidden) + 0.5).bfloat16() if smooth else None
            gp = g.float() * (p.float() if smooth else 1.0)
            slot, clear = torch.zeros(GEMV_MAX_M), torch.full((GEMV_MAX_M,), 7.0)
            o_cfg = sum_config(fmt, m, hidden, hidden, split=2)  # split K: the last slice's epilogue gathers
            o_kw = dict(a_mode=code, residual=resid, config=o_cfg)
            h = gemv(attn, ow, os_, **o_kw, row_max_out=slot, row_max_pre_scale=gp, row_max_clear=clear)
            plain_h = gemv(attn, ow, os_, **o_kw)
            kw = dict(a_mode=code, norm_weight=g, pre_scale=p, out_dtype=torch.float32)
            got = gemv(h, w, s, **kw, config=sum_config(fmt, m, n, hidden, split=1), x_row_max=slot)
            # the live row alone (M = 1), the norm kept out of normalize_rows: the measured rule does not give a
            # tensor-core tile the maxima (gemv.uses_forwarded_maxima), norm_first False does
            one_row_tile = dot_config(fmt, m, n, hidden, 0, block_n=64, swap=True)
            got_dot = gemv(h, w, s, **kw, config=one_row_tile, x_row_max=slot, norm_first=False) if m == 1 else None
            v = h.float() * g.float()
            v = v * p.float() if smooth else v
            q, qs = quantize_activation(v, mode)  # the codes at scale max|x g p| / 448 (127)
            r = torch.rsqrt(h.float().pow(2).mean(-1, keepdim=True) + 1e-6)
            emulated = (q.float() @ w.float().t()) * s * qs.view(-1, 1) * r
            ref = fused_linear_reference(h, w, s, None, 0, None, None, mode, g, 1e-6, p, "none", None, torch.float32)
            hd = h.double()
            normed = hd * torch.rsqrt(hd.pow(2).mean(-1, keepdim=True) + 1e-6) * gp.double()
            exact = normed @ (w.double() * s.double()[:, None]).t()
            rel = lambda a, b: ((a.double() - b.double()).norm() / b.double().norm()).item()  # noqa: E731
            ignored = []
            not_deferring = [sum_config(fmt, m, n, hidden, split=2)]
            not_deferring.append(dot_config(fmt, m, n, hidden, 0, block_n=64, split=2))
            # a tensor-core tile: of several live rows; of one by the rule
            not_deferring.append(dot_config(fmt, m, n, hidden, 0, block_n=64) if m > 1 else one_row_tile)
            for cfg in not_deferring:
                with_max = gemv(h, w, s, **kw, config=cfg, x_row_max=slot)
                ignored.append(bool(torch.equal(with_max, gemv(h, w, s, **kw, config=cfg))))
            work, gemv_module.ROW_PROLOGUE_MAX_WORK = gemv_module.ROW_PROLOGUE_MAX_WORK, 0  # rows normalized first
            try:
                one_slice = sum_config(fmt, m, n, hidden, split=1)
                with_max = gemv(h, w, s, **kw, config=one_slice, x_row_max=slot)
                ignored.append(bool(torch.equal(with_max, gemv(h, w, s, **kw, config=one_slice))))
            finally:
                gemv_module.ROW_PROLOGUE_MAX_WORK = work
            results[f"{mode} M{m}{' smooth' if smooth else ''}"] = {
                "gather_output_equal": bool(torch.equal(h, plain_h)),
                "maxima_equal": bool(torch.equal(slot[:m], (h.float() * gp).abs().amax(1))),
                "others_zero": bool((slot[m:] == 0).all()),
                "cleared": bool((clear == 0).all()),
                "vs_emulation": rel(got, emulated),
                "tensor_cores_vs_emulation": rel(got_dot, emulated) if got_dot is not None else 0.0,
                "error": rel(got, exact),
                "reference_error": rel(ref, exact),
                "maxima_ignored": all(ignored),
            }
    return results


def _run_unmasked():
    """Rows through whole one-row CUDA-core tiles with ``$VLMQ_GEMV_UNMASKED`` 0 and 1 -- int4 (group 128 with zero
    points and the RMSNorm deferred, one row; group 64 without, three rows), int8 and bf16 (one row, the norm
    deferred) --: whether each pair of outputs is equal bit for bit."""
    import torch

    from vlmq.engine.kernels import pack_int4
    from vlmq.engine.kernels.gemv import W_FLOAT, W_INT4, W_INT8, gemv, sum_config

    results = {}
    n, k = 64, 1024
    for name, fmt, group, zero, m in (
        ("int4 group 128 zero M1", W_INT4, 128, True, 1),
        ("int4 group 64 M3", W_INT4, 64, False, 3),
        ("int8 M1", W_INT8, 0, False, 1),
        ("bf16 M1", W_FLOAT, 0, False, 1),
    ):
        x = torch.randn(m, k).bfloat16()
        norm = (torch.rand(k) + 0.5).bfloat16() if m == 1 else None
        scale = zp = None
        if fmt == W_INT4:
            w = pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8))
            scale = (torch.rand(n, k // group) * 0.02).bfloat16()
            zp = torch.randint(-8, 8, (n, k // group), dtype=torch.int8) if zero else None
        elif fmt == W_INT8:
            w, scale = torch.randint(-128, 128, (n, k), dtype=torch.int8), torch.rand(n) * 0.002
        else:
            w = (torch.randn(n, k) * 0.05).bfloat16()
        cfg = sum_config(fmt, m, n, k, rows=8, warps=1, vec=2 if fmt != W_FLOAT else 1)
        outs = []
        for setting in ("0", "1"):
            os.environ["VLMQ_GEMV_UNMASKED"] = setting
            outs.append(gemv(x, w, scale, zp, group, norm_weight=norm, config=cfg, norm_defer=norm is not None))
        os.environ.pop("VLMQ_GEMV_UNMASKED")
        results[name] = bool(torch.equal(*outs))
    return results


def _run_frag_pairs():
    """fp32 rows through each int4 tensor-core tile in column order and in fragment order (``frag``): the relative
    difference of the outputs (the same products, summed in another order within each K tile)."""
    import torch

    from vlmq.engine.kernels import pack_int4
    from vlmq.engine.kernels.gemv import W_INT4, dot_config, frag_activations, gemv

    x, w = torch.randn(16, 512), pack_int4(torch.randint(-8, 8, (72, 512), dtype=torch.int8))
    scale, zero = torch.rand(72, 4) * 0.02, torch.randint(-8, 8, (72, 4), dtype=torch.int8)
    results = {}
    for swap, post in ((False, False), (False, True), (True, False), (True, True)):
        out = [
            gemv(
                x,
                w,
                scale,
                zero,
                128,
                config=dot_config(W_INT4, 16, 72, 512, 128, split=2, swap=swap, post=post, frag=f),
            )
            for f in (False, True)
        ]
        results[f"swap {swap} post {post}"] = ((out[1] - out[0]).norm() / out[0].norm()).item()
        if swap:  # rows stored in the tile's K order already (x_frag): the same sums, bit for bit
            cfg = dot_config(W_INT4, 16, 72, 512, 128, split=2, swap=swap, post=post, frag=True)
            stored = gemv(frag_activations(x, cfg), w, scale, zero, 128, config=cfg, x_frag=True)
            unpermuted = gemv(x, w, scale, zero, 128, config=cfg, x_frag=True)
            results[f"x_frag post {post}"] = [(stored - out[1]).abs().max().item(), (unpermuted - out[1]).norm().item()]
    return results


def _run_frag_rows():
    """q/k/v-like rows through the RMSNorm and a swapped fragment-order int4 tile, with ``$VLMQ_FRAG_ROWS`` 0 and 1:
    ``normalize_rows`` then stores them in the tile's K order (``frag_block_k``) and the tile reads them as they
    are. [largest output difference, whether the stored rows are ``frag_activations`` of the plain ones]."""
    import torch

    from vlmq.engine.kernels import pack_int4
    from vlmq.engine.kernels.gemv import FRAG_ROWS_ENV, W_INT4, dot_config, frag_activations, gemv, normalize_rows

    x, w = torch.randn(16, 512), pack_int4(torch.randint(-8, 8, (72, 512), dtype=torch.int8))
    scale, zero = torch.rand(72, 4) * 0.02, torch.randint(-8, 8, (72, 4), dtype=torch.int8)
    norm = torch.rand(512) + 0.5
    cfg = dot_config(W_INT4, 16, 72, 512, 128, split=2, swap=True, frag=True)
    outs = []
    for setting in ("0", "1"):
        os.environ[FRAG_ROWS_ENV] = setting
        outs.append(gemv(x, w, scale, zero, 128, norm_weight=norm, config=cfg))
    del os.environ[FRAG_ROWS_ENV]
    rows = normalize_rows(x, norm, 1e-6, None, 0)[0]
    stored = normalize_rows(x, norm, 1e-6, None, 0, frag_block_k=128)[0]
    return [(outs[1] - outs[0]).abs().max().item(), bool(torch.equal(stored, frag_activations(rows, cfg)))]


def _run_deferred_norm():
    """bf16 rows through the RMSNorm in the prologue (rounded as Qwen2RMSNorm rounds: twice to bf16 before the
    weight) and deferred (unrounded, the multiplier on the sums), each against the fp64 product of the exact
    normalized row: {shape: [deferred error, prologue error]} (relative; both outputs rounded to bf16)."""
    import torch

    from vlmq.engine.kernels import dequantize_int4, pack_int4
    from vlmq.engine.kernels.gemv import ACT_NONE, W_FLOAT, W_INT4, W_INT8, gemv, sum_config

    errors = {}
    for name, fmt, m, n, k in (
        ("bf16", W_FLOAT, 1, 40, 1100),
        ("int8", W_INT8, 2, 48, 520),
        ("int4", W_INT4, 2, 48, 1536),
    ):
        x, g = torch.randn(m, k).bfloat16(), (torch.rand(k) + 0.5).bfloat16()
        scale = zero = None
        if fmt == W_FLOAT:
            w = (torch.randn(n, k) * 0.05).bfloat16()
            exact = w.double()
        elif fmt == W_INT8:
            w, scale = torch.randint(-128, 128, (n, k), dtype=torch.int8), torch.rand(n) * 0.01
            exact = w.double() * scale.double()[:, None]
        else:
            w = pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8))
            scale, zero = (
                (torch.rand(n, k // 128) * 0.02).bfloat16(),
                torch.randint(-8, 8, (n, k // 128), dtype=torch.int8),
            )
            exact = dequantize_int4(w, scale, zero, 128, torch.float32).double()
        xd = x.double()
        y = (xd * torch.rsqrt((xd * xd).mean(1, keepdim=True) + 1e-6) * g.double()) @ exact.t()
        cfg = sum_config(fmt, m, n, k, split=1, vec=2 if fmt != W_FLOAT else 1)
        outs = [
            gemv(x, w, scale, zero, 128 if fmt == W_INT4 else 0, norm_weight=g, act=ACT_NONE, config=cfg, norm_defer=d)
            for d in (True, False)
        ]
        errors[name] = [((out.double() - y).norm() / y.norm()).item() for out in outs]
    return errors


def _run_mixed():
    """The prefill GEMM of ``mixed_gemm_triton`` against the references: W8A8 int8 and FP8 (codes as stored), W8A16
    int8 / e4m3 rows and int4 groups of 64 and 128 (zero point or not; K tiles shorter than a group and clipped to
    one), fp32 and bf16 rows; M, N not multiples of the tile, swapped or not, bias or not. Relative errors."""
    import torch

    from vlmq.engine.kernels import dequantize_int4, pack_int4, quantize_activation
    from vlmq.engine.kernels.gemv import MixedTile
    from vlmq.engine.kernels.prefill import mixed_linear
    from vlmq.engine.kernels.w8 import w8_linear_reference

    m, n, k = 37, 48, 256
    errors = {}
    for name, fmt, a_mode, dt, group, zero, bk in (
        ("w8a8 int8", "int8", "int8", torch.float32, 0, False, 64),
        ("w8a8 fp8", "fp8", "fp8", torch.float32, 0, False, 64),
        ("w8a16 int8 f32", "int8", "bf16", torch.float32, 0, False, 64),
        ("w8a16 fp8 bf16", "fp8", "bf16", torch.bfloat16, 0, False, 128),
        ("w4a16 g64 zero f32", "int4", "bf16", torch.float32, 64, True, 128),
        ("w4a16 g128 f32", "int4", "bf16", torch.float32, 128, False, 64),
        ("w4a16 g128 zero bf16", "int4", "bf16", torch.bfloat16, 128, True, 128),
    ):
        x = torch.randn(m, k, dtype=dt)
        bias = torch.randn(n, dtype=dt)
        zp = None
        if fmt == "int4":
            w = pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8))
            scale = (torch.rand(n, k // group) * 0.02).to(dt)
            zp = torch.randint(-8, 8, (n, k // group), dtype=torch.int8) if zero else None
        elif fmt == "int8":
            w, scale = torch.randint(-128, 128, (n, k), dtype=torch.int8), torch.rand(n) * 0.01
        else:
            w, scale = (torch.randn(n, k) * 50).clamp(-440, 440).to(torch.float8_e4m3fn), torch.rand(n) * 0.01
        xq, xs = quantize_activation(x, a_mode)
        if fmt == "int4":
            ref = x.float() @ dequantize_int4(w, scale, zp, group, dt).float().t() + bias.float()
        else:
            ref = w8_linear_reference(xq, w, scale, xs, bias, torch.float32)
        for swap in (False, True):
            out = mixed_linear(xq, w, scale, zp, group, bias, dt, MixedTile(16, 32, bk, 4, 2, swap), x_scale=xs)
            errors[f"mixed {name} swap {swap}"] = ((out.float() - ref).norm() / ref.norm()).item()
    try:  # int8 rows of 256 columns, a K tile of 512
        w8 = torch.randint(-128, 128, (n, k), dtype=torch.int8)
        mixed_linear(x, w8, torch.rand(n), None, 0, None, dt, MixedTile(16, 32, 512, 4, 2, False))
        errors["mixed K not a multiple of BK refused"] = float("inf")
    except ValueError:
        errors["mixed K not a multiple of BK refused"] = 0.0
    return errors


def main():
    import torch
    from gpu_like_interpreter import gpu_like_interpreter  # this directory is on sys.path (run as a script)

    gpu_like_interpreter()
    torch.manual_seed(0)
    errors = {name: _run_case(*case) for name, *case in CASES}
    errors.update(_run_extras())
    errors["prologue"] = _run_prologue()
    errors["quotient"] = _run_quotient()
    errors["fused prologue"] = _run_fused_prologue()
    errors["row max"] = _run_row_max()
    errors["forwarded norm"] = _run_forwarded_norm()
    errors["unmasked"] = _run_unmasked()
    torch.manual_seed(1)  # its own data: cases added above must not change it (the post-scaled sums cancel)
    errors["frag pairs"] = _run_frag_pairs()
    errors["frag rows"] = _run_frag_rows()
    torch.manual_seed(3)
    errors["deferred norm"] = _run_deferred_norm()
    torch.manual_seed(2)
    errors["mixed"] = _run_mixed()
    print(json.dumps(errors))


@pytest.fixture(scope="module")
def interpreter_errors():
    pytest.importorskip("triton")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pytest imports tests by path (importlib)
    from gpu_like_interpreter import interpreter_run

    return interpreter_run(__file__, timeout=900)


def test_every_kernel_case_matches_its_reference(interpreter_errors):
    bad = {
        name: interpreter_errors[name]
        for name, fmt, m, n, k, a_mode, kernel, opts in CASES
        if not interpreter_errors[name] < _tolerance(a_mode, opts)
    }
    assert not bad, f"relative error above tolerance: {bad}"


def test_a_deferred_rmsnorm_is_closer_to_the_exact_product_than_the_rounded_prologue(interpreter_errors):
    """bf16 rows: the deferred RMSNorm (``$VLMQ_NORM_DEFER``) skips the two roundings of the normalized row that
    Qwen2RMSNorm (and the prologue) make, so its output is no further from the fp64 product than the prologue's, and
    within the bf16 outputs' own rounding of it (measured 1.6e-3 against the prologue's 2.4-5.1e-3)."""
    for name, (deferred, prologue) in interpreter_errors["deferred norm"].items():
        assert deferred <= prologue and deferred < 2e-3, (name, deferred, prologue)


def test_prologue_is_bit_exact(interpreter_errors):
    """normalize_rows gives the reference prologue's values and scales bit for bit: int8, FP8 and bf16 rows,
    with and without the norm, with a bf16 or fp32 pre-scale (fp32 promotes the row, so nothing rounds), the
    row in registers or in blocks."""
    results = interpreter_errors["prologue"]
    assert len(results) == 36
    bad = {
        name: r for name, r in results.items() if not (r["dtype"] and r["scales_equal"] and r["values_differing"] == 0)
    }
    assert not bad, bad


def test_exact_quotient_is_ieee_division(interpreter_errors):
    """The FP8 quantizations' division without a divide (``eager_triton.exact_quotient``: a multiply by the
    reciprocal, corrected by one FMA) gives IEEE division's quotient bit for bit on 200k pairs, half of them an ulp
    from an e4m3 rounding boundary (``quotient_probe.hard_quotient_cases``); a multiply alone would miss some."""
    counts = interpreter_errors["quotient"]
    assert counts["exact"] == 0 and counts["multiply"] > 1000, counts


def test_w8a8_prologue_in_the_cuda_core_kernel(interpreter_errors):
    """Up to 4 float rows, W8A8 quantizes in the GEMV's own prologue (no normalize_rows launch) to the codes and
    scales normalize_rows gives: the output equals normalize_rows + the GEMV on its quantized rows, bit for bit."""
    results = interpreter_errors["fused prologue"]
    assert len(results) == 6
    bad = {name: r for name, r in results.items() if not (r["equal"] and r["row_launches"] == 0)}
    assert not bad, bad


def test_w8a8_rows_quantized_with_the_maxima_gate_up_gathered(interpreter_errors):
    """gate/up's epilogue gathers each output row's absolute maximum (after down_proj's pre-scale) by atomic max,
    and zeroes the next layer's buffer; down_proj, given those maxima, quantizes its float rows tile by tile to the
    codes ``normalize_rows`` (or the CUDA-core prologue) gives: both outputs equal the plain launches' bit for bit,
    int8 and FP8, CUDA-core and swapped tensor-core tiles, split K, with and without SmoothQuant's pre-scales."""
    results = interpreter_errors["row max"]
    assert len(results) == 8
    bad = {name: r for name, r in results.items() if not all(r.values())}
    assert not bad, bad


def test_w8a8_rows_quantized_with_forwarded_maxima_defer_their_rmsnorm(interpreter_errors):
    """``$VLMQ_W8A8_ROW_MAX=forward``'s two halves, int8 and FP8, one row and three with SmoothQuant's pre-scale: a
    residual launch (split K) gathers max|h g p| of the rows it stores and zeroes the next slot, its output unchanged;
    the next launch, given those maxima and the RMSNorm, quantizes x g p with them and multiplies the sums by the
    rows' rsqrt(mean(x^2) + eps): its arithmetic, to fp32 rounding (measured 6e-8 - 1.4e-7), on the CUDA cores and, at
    one row with the norm kept out of normalize_rows, on a tensor-core tile (``ONE_ROW``: the live row's codes
    alone; not by the measured rule, which there ignores them). Its codes are not the
    module's (those of the bf16-rounded normalized row: ~1 % (int8) / ~2 % (FP8) relative difference in the outputs,
    the size of the quantization's own error), and no further from the exact product than the reference's
    (measured int8 0.9 / 1.1 % against 1.1 / 1.2 %, FP8 2.8 / 2.6 % against 4.0 / 2.7 %). A launch that cannot
    defer (split K, tensor cores) or would not quantize in its prologue (rows the rule normalizes first) ignores the
    maxima (a tensor-core tile: at several rows, or at one by the rule)."""
    results = interpreter_errors["forwarded norm"]
    assert len(results) == 4
    for name, r in results.items():
        flags = ("gather_output_equal", "maxima_equal", "others_zero", "cleared", "maxima_ignored")
        assert all(r[f] for f in flags), (name, r)
        assert r["vs_emulation"] < 1e-5 and r["tensor_cores_vs_emulation"] < 1e-5, (name, r)
        assert r["error"] < 1.25 * r["reference_error"] and r["error"] < 0.05, (name, r)


def test_unmasked_loads_give_the_same_sums(interpreter_errors):
    """``$VLMQ_GEMV_UNMASKED=1`` only drops the masks of loads that are in range on whole tiles: the outputs equal
    the masked loads' bit for bit (int4 with zero points or not, groups of 64 and 128, one row and three; int8 and
    bf16 at one row, the RMSNorm deferred)."""
    results = interpreter_errors["unmasked"]
    assert len(results) == 4 and all(results.values()), results


def test_fragment_order_int4_tiles_equal_column_order_ones(interpreter_errors):
    """The K permutation of ``frag`` tiles changes only the order of each tile's sums: fp32 outputs agree with the
    column-order tile's to fp32 rounding, swapped or not, with scales on the weights or on the sums (there the
    sums cancel, q - (24 + z) sum(x): measured 2e-6 and, on other random data, 1.7e-5; so 1e-4, still four orders
    of magnitude below the errors of order 1 that a wrong permutation gives)."""
    results = dict(interpreter_errors["frag pairs"])
    stored = {name: results.pop(name) for name in ("x_frag post False", "x_frag post True")}
    assert len(results) == 4 and all(diff < 1e-4 for diff in results.values()), results
    # rows handed over in the tile's K order (gemv's x_frag, frag_activations) give the very sums the tile's own
    # permute gives; the same flag on rows in column order does not (the permute is skipped)
    assert all(same == 0.0 and other > 1.0 for same, other in stored.values()), stored


def test_rows_stored_in_the_tiles_k_order_give_the_same_sums(interpreter_errors):
    """``$VLMQ_FRAG_ROWS=1``: the RMSNorm's rows stored in the swapped fragment-order tile's K order (each column
    where ``frag_activations`` puts it) and read without the tile's permute give the default path's output exactly."""
    difference, stored_in_order = interpreter_errors["frag rows"]
    assert difference == 0.0 and stored_in_order


def test_dequantize_kernels_are_bit_exact(interpreter_errors):
    """int4 as w4's reference rounds; int8 / e4m3 rows times their scales, rounded once to bf16; also into a
    caller's buffer (returned as the result), and a buffer of the wrong shape refused."""
    for name in (
        "dequant-int4 g64",
        "dequant-int4 g128",
        "dequant-w8 int8",
        "dequant-w8 fp8",
        "dequant-int4 out",
        "dequant-w8 out",
        "dequant-w8 bad out refused",
        "dequant slices",
    ):
        assert interpreter_errors[name] == 0.0, name


def test_int4_group_terms_kernel_is_the_eager_expression_bit_for_bit(interpreter_errors):
    """CUTLASS's int4 scale and zero terms, transposed to [G, N], from one Triton launch: every bf16 the eager
    expression gives (zero points or symmetric; ragged tiles)."""
    assert interpreter_errors["group-terms zero"] == 0.0
    assert interpreter_errors["group-terms symmetric"] == 0.0


def test_int4_shuffle_kernel_writes_the_reference_layout(interpreter_errors):
    """The shuffled int4 layout (``w4_shuffle_reference``, checked against the wgmma fragment in
    test_cutlass_build.py and against CUTLASS's reorder on the GPU) from one Triton launch, masks included."""
    shuffles = {name: e for name, e in interpreter_errors.items() if name.startswith("shuffle ")}
    assert len(shuffles) == 3 and not any(shuffles.values()), shuffles


def test_weight_only_prefill_in_slices_equals_the_whole_weight_product(interpreter_errors):
    """``dequant_linear`` (weight-only prefill, the weight dequantized slice by slice into a small scratch, each
    multiplied into its own output columns): int8 and int4, bias or not, equal to one product with the whole
    dequantized weight up to fp32 summation order (a slice left out or written to the wrong columns would leave
    errors of order 1)."""
    errors = {name: e for name, e in interpreter_errors.items() if name.startswith("dequant-linear")}
    assert len(errors) == 4 and all(e < 1e-4 for e in errors.values()), errors


def test_prefill_gemm_matches_its_references(interpreter_errors):
    """``mixed_linear`` (prefill.py's GEMM of ``mixed_gemm_triton``): W8A8 int8 as the reference computes it
    (exact int32 sums, the scales in its order; measured 0, bound 1e-6), FP8 W8A8 and fp32 weight-only rows to
    fp32 summation order (1e-5), bf16 rows to bf16 output rounding (2e-3); swapped or not; a K that is not a
    multiple of the tile's K refused. A wrong nibble order, group or zero point leaves errors of order 1."""
    errors = interpreter_errors["mixed"]
    assert len(errors) == 15, errors
    bad = {
        name: e
        for name, e in errors.items()
        if not e <= (0.0 if "refused" in name else 1e-6 if "int8" in name and "w8a8" in name else
                     2e-3 if "bf16" in name else 1e-5)
    }  # fmt: skip
    assert not bad, bad


if __name__ == "__main__":
    main()


def test_tail_cases_end_in_a_part_tile_and_the_rule_keeps_whole_tiles_elsewhere():
    """The ``tail`` cases above do reach the narrower last tile (so the interpreter checks it), and ``tail_vec``
    gives 0 where a part tile cannot run narrower: K slices, rows not a whole number of tiles, tiles dividing K,
    three word columns left of four."""
    from vlmq.engine.kernels.gemv import W_INT4, W_INT8, sum_config, tail_vec

    codes = {"int4": W_INT4, "int8": W_INT8}
    tails = [case for case in CASES if " tail " in case[0]]
    assert len(tails) == 6  # one of them with the RMSNorm deferred
    for name, fmt, m, n, k, _, _, opts in tails:
        cfg = sum_config(codes[fmt], m, n, k, split=1, vec=opts["vec"], rows=opts["rows"], warps=opts.get("warps", 1))
        assert tail_vec(cfg, codes[fmt], n, k, 1) == int(name.split(" tail ")[1][0]), name
    cfg = sum_config(W_INT4, 1, 48, 1536, split=1, vec=4, rows=8)  # 1024-column tiles: 512 left
    assert tail_vec(cfg, W_INT4, 48, 1536, 1) == 2
    assert tail_vec(cfg, W_INT4, 48, 1536, 2) == 0  # K slices
    assert tail_vec(cfg, W_INT4, 44, 1536, 1) == 0  # ragged rows
    assert tail_vec(cfg, W_INT4, 48, 2048, 1) == 0  # whole tiles
    assert tail_vec(cfg, W_INT4, 48, 1792, 1) == 0  # three columns of 256 left
    assert tail_vec(cfg._replace(kernel="dot"), W_INT4, 48, 1536, 1) == 0
