"""The decode and prefill kernels on the GPU at qwen2-vl-2b and -7b dimensions, against their references
(run on the lent H200: ``python -m pytest -q -m gpu tests/engine/test_kernels_gpu.py``).

Tolerances (relative error of the bf16 output against ``fused_linear_reference`` on the GPU), from what the
two compute differently:
- 1e-3 (``TOL``): the same roundings in a different order -- fp32 sums accumulated in another order, so a few
  outputs round to the neighbouring bf16 value; the prologue (RMSNorm, W8A8 quantization) is the reference's
  to the bit but for the norm's sum of squares, whose order can move a value by one bf16 ulp now and then
  (H200, call 3: 0 to 1.5e-4 for the plain ops). The earlier kernels, which skipped the norm's bf16
  roundings and quantized unrounded values, measured 1.1e-2 (int8) and 2.8e-2 (FP8) here.
- 5e-3 (``TOL_EPILOGUE``): outputs through SiLU·mul or the residual add, which the reference computes on the
  linear's output rounded to bf16 (up to three more roundings of 2^-9; 1.9e-3 measured in the interpreter);
  also int4 weights on the CUDA-core kernel (M <= 4), which multiplies (q - z) * s exactly where the
  reference rounds each dequantized weight to bf16 (2.5e-3 measured); and int4 with a bias at any M: w4's
  reference rounds x @ W^T to bf16 before it adds the bias, the kernels add it to the fp32 sum (the q/k/v
  shapes at M = 16 and 64 failed 1e-3 on the H200 for that reason alone, 2026-11-30); and int4 on ``post``
  tensor-core tiles (codes on the tensor cores, group scales on the sums: exact like the CUDA-core kernel).
- 1e-2 (``TOL_INT4_ACT``): int4 weights through SiLU·mul, where the two above add up: the int4 GEMV's exact
  products and the epilogue's roundings (``stress_fused.py`` of benchmarks/results/h200-2026-12-01q/call3-ab-oproj,
  80 draws at 2b gate/up, rows 1 and 16: at most 5.01e-3, over 5e-3 in one draw, which failed this test once).
- 5e-3 (``TOL_PREFILL``): library prefill paths that round the GEMM's output to bf16 before scaling it
  (dequantize-then-cuBLAS W8A16: 2.8e-3 measured).
- 5e-3 (``TOL_FP8_MMA``): FP8 x FP8 products on the tensor cores at long K. Hopper's FP8 MMA adds into its fp32
  accumulator with fewer mantissa bits (the "fast accumulation" every Hopper engine deploys, and Triton's default
  on sm_90; docs/benchmarks.md: CUTLASS's fast-accumulating FP8 prefill measured 9.0e-3 on the 7b down at 300 rows),
  so the sums differ from the reference's fp32 ones beyond a reordering: the 7b down (K = 18944) at 9 rows through a
  swapped tile with 8 K splits measured 2.5e-3 on the H200 (thirty-third session), over ``TOL``.
"""

import os
import sys

import pytest
import torch

from vlmq.engine.kernels import (
    PackedLinear,
    dequantize_int4,
    fused_linear,
    fused_linear_reference,
    pack_gate_up,
    pack_int4,
    quantize_activation,
    run_packed,
    w4a16_linear,
    w8_linear,
)
from vlmq.engine.kernels.gemv import W_INT4, default_config

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

DIMS = {"2b": dict(hidden=1536, inter=8960, qkv=2048), "7b": dict(hidden=3584, inter=18944, qkv=4608)}
# (weight format, activation mode) of every recipe the kernels serve
MODES = [("bf16", "bf16"), ("int8", "bf16"), ("fp8", "bf16"), ("int8", "int8"), ("fp8", "fp8"), ("int4", "bf16")]
TOL, TOL_EPILOGUE, TOL_INT4_ACT, TOL_PREFILL, TOL_FP8_MMA = 1e-3, 5e-3, 1e-2, 5e-3, 5e-3  # the module doc says why


def rel_err(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def make_pack(fmt, a_mode, n, k, *, group=128, zero=True, bias=False, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    kw = dict(device="cuda", generator=g)
    b = torch.randn(n, dtype=torch.bfloat16, **kw) if bias else None
    if fmt == "bf16":
        return PackedLinear(torch.randn(n, k, dtype=torch.bfloat16, **kw) * 0.02, None, None, 0, b, a_mode)
    if fmt == "int8":
        return PackedLinear(
            torch.randint(-127, 128, (n, k), dtype=torch.int8, **kw), torch.rand(n, **kw) * 1e-3, None, 0, b, a_mode
        )
    if fmt == "fp8":  # clamp: float8_e4m3fn casts overflow to NaN
        w = (torch.randn(n, k, **kw) * 100).clamp(-440, 440).to(torch.float8_e4m3fn)
        return PackedLinear(w, torch.rand(n, **kw) * 1e-4, None, 0, b, a_mode)
    q = torch.randint(-8, 8, (n, k), dtype=torch.int8, **kw)
    s = (torch.rand(n, k // group, **kw) * 0.01).to(torch.bfloat16)
    z = torch.randint(-8, 8, (n, k // group), dtype=torch.int8, **kw) if zero else None
    return PackedLinear(pack_int4(q), s, z, group, b, a_mode)


def reference(p, x, **kw):
    return fused_linear_reference(
        x,
        p.weight,
        p.scale,
        p.zero,
        p.group_size,
        p.bias,
        None,
        p.a_mode,
        kw.get("norm_weight"),
        kw.get("eps", 1e-6),
        p.pre_scale,
        kw.get("act", "none"),
        kw.get("residual"),
        torch.bfloat16,
    )


def poison_allocator():
    """Leave NaNs in freed cache blocks, so an output element the kernel forgot to write shows."""
    junk = torch.full((256 << 20,), float("nan"), device="cuda")
    del junk


@pytest.mark.parametrize("preset", sorted(DIMS))
@pytest.mark.parametrize("fmt, a_mode", MODES)
@pytest.mark.parametrize("m", [1, 3, 16, 64])
@pytest.mark.parametrize("shape", ["qkv", "down"])
def test_decode_linear_matches_reference(preset, fmt, a_mode, m, shape):
    d = DIMS[preset]
    n, k = (d["qkv"], d["hidden"]) if shape == "qkv" else (d["hidden"], d["inter"])
    p = make_pack(fmt, a_mode, n, k, bias=shape == "qkv", zero=m != 3)
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    poison_allocator()
    out = run_packed(p, x)
    assert torch.isfinite(out).all()
    exact_int4 = fmt == "int4" and (m <= 4 or p.bias is not None or default_config(W_INT4, m, n, k, 128).post)
    assert rel_err(out, reference(p, x)) < (TOL_EPILOGUE if exact_int4 else TOL)


@pytest.mark.parametrize("preset", sorted(DIMS))
@pytest.mark.parametrize("fmt, a_mode", MODES)
@pytest.mark.parametrize("m", [1, 16])
def test_fused_layer_projections_match_reference(preset, fmt, a_mode, m):
    """The three fusions at the shapes they serve: norm + q/k/v, norm + gate/up + SiLU·mul, down + residual
    (tolerances: the module doc)."""
    d = DIMS[preset]
    h, inter = d["hidden"], d["inter"]
    torch.manual_seed(m)  # the same draw every run, so a failure reproduces
    x = torch.randn(m, h, device="cuda", dtype=torch.bfloat16) * 4
    g = torch.rand(h, device="cuda", dtype=torch.bfloat16) + 0.5
    qkv = make_pack(fmt, a_mode, d["qkv"], h, bias=True, seed=1)
    gate_up = pack_gate_up(make_pack(fmt, a_mode, inter, h, seed=2), make_pack(fmt, a_mode, inter, h, seed=3))
    down = make_pack(fmt, a_mode, h, inter, seed=4)
    mid = torch.randn(m, inter, device="cuda", dtype=torch.bfloat16)
    poison_allocator()
    tol = TOL_EPILOGUE if fmt == "int4" else TOL  # q/k/v carry a bias (the module doc)
    assert rel_err(run_packed(qkv, x, norm_weight=g), reference(qkv, x, norm_weight=g)) < tol
    fused = run_packed(gate_up, x, norm_weight=g, act="silu_mul")
    assert fused.shape == (m, inter) and torch.isfinite(fused).all()
    tol_act = TOL_INT4_ACT if fmt == "int4" else TOL_EPILOGUE
    assert rel_err(fused, reference(gate_up, x, norm_weight=g, act="silu_mul")) < tol_act
    assert rel_err(run_packed(down, mid, residual=x), reference(down, mid, residual=x)) < TOL_EPILOGUE


@pytest.mark.parametrize("fmt, a_mode", MODES)
@pytest.mark.parametrize("m", [300, 1024])
def test_prefill_paths_match_reference(fmt, a_mode, m):
    """Every prefill path of the scheme (library GEMM and Triton GEMM) at 2b gate/up and down shapes."""
    from vlmq.engine.kernels.gemv import weight_format
    from vlmq.engine.kernels.prefill import prefill_linear, prefill_paths, scheme

    for n, k in ((17920, 1536), (1536, 8960)):
        p = make_pack(fmt, a_mode, n, k, bias=True)
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        xq, xs = quantize_activation(x, a_mode)
        ref = reference(p, x)
        for path in prefill_paths(scheme(p.weight, xq), weight_format(p.weight)):
            out = prefill_linear(xq, p.weight, p.scale, p.zero, p.group_size, p.bias, xs, torch.bfloat16, path=path)
            assert rel_err(out, ref) < TOL_PREFILL, (path, n, k)


@pytest.mark.parametrize("fmt, a_mode", [mode for mode in MODES if mode[0] != "bf16"])
def test_prefill_gemm_tiles_match_reference(fmt, a_mode):
    """``mixed_linear`` (the prefill GEMM of ``mixed_gemm_triton``) through tiles of each kind -- TMA loads or
    pointer loads, weights on either MMA operand, 64- and 128-row tiles -- at a 7b shape, rows a multiple of no
    tile and 300, bias on: every weight format and activation mode against the reference."""
    from vlmq.engine.kernels.gemv import MixedTile
    from vlmq.engine.kernels.prefill import mixed_linear

    tiles = (
        MixedTile(64, 128, 128, 4, 4, False, True),
        MixedTile(128, 128, 128, 8, 3, False, False),
        MixedTile(128, 128, 64, 8, 4, True, True),
        MixedTile(64, 64, 128, 4, 3, True, False),
    )
    p = make_pack(fmt, a_mode, 3584, 3584, bias=True)
    for m in (300, 77):
        x = torch.randn(m, 3584, device="cuda", dtype=torch.bfloat16)
        xq, xs = quantize_activation(x, a_mode)
        ref = reference(p, x)
        for tile in tiles:
            poison_allocator()
            out = mixed_linear(xq, p.weight, p.scale, p.zero, p.group_size, p.bias, torch.bfloat16, tile, x_scale=xs)
            assert rel_err(out, ref) < TOL_PREFILL, (tile, m)


def test_every_measured_prefill_tile_matches_reference():
    """Each Triton GEMM tile of the shipped table (``measured_prefill``: 64- or 128-row tiles, K in slices or not)
    through ``prefill_linear``'s default path at its shape and rows, and at 1.5x the rows (a ragged last M tile),
    against the reference."""
    from vlmq.engine.kernels.gemv import measured_prefill
    from vlmq.engine.kernels.prefill import prefill_linear

    modes = {"int8-a16": ("int8", "bf16"), "int8-a8": ("int8", "int8"), "fp8-a8": ("fp8", "fp8")}
    modes |= {"fp8-a16": ("fp8", "bf16"), "int4-g128": ("int4", "bf16")}
    tiles = [(mode, n, k, m) for (mode, n, k), entries in measured_prefill().items() for m, t in entries if t]
    assert any(mode == "int8-a8" for mode, *_ in tiles), "no W8A8 prefill tile in the shipped table: update the test"
    for mode, n, k, m in tiles:
        fmt, a_mode = modes[mode]
        p = make_pack(fmt, a_mode, n, k, bias=True)
        for rows in (m, m * 3 // 2):
            x = torch.randn(rows, k, device="cuda", dtype=torch.bfloat16)
            xq, xs = quantize_activation(x, a_mode)
            out = prefill_linear(xq, p.weight, p.scale, p.zero, p.group_size, p.bias, xs, torch.bfloat16)
            assert rel_err(out, reference(p, x)) < TOL_PREFILL, (mode, n, k, rows)


@pytest.mark.parametrize("fmt, a_mode", MODES)
@pytest.mark.parametrize("m", [9, 16])
@pytest.mark.parametrize("swap, post", [(False, True), (True, False), (True, True)])
def test_swapped_and_post_scaled_tiles_match_reference(fmt, a_mode, m, swap, post):
    """Tensor-core tiles with the operands swapped (weights x activations^T) and, for int4, group scales applied to
    the sums: every mode at the 2b gate_up and 7b down shapes, split K on and off, whatever the measured tiles
    chose."""
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import dot_config, gemv, weight_format

    for n, k, split in ((17920, 1536, 1), (3584, 18944, 8)):
        p = make_pack(fmt, a_mode, n, k)
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)  # seeded with the test (conftest's seeded_torch)
        xq, xs = quantize_activation(x, a_mode) if a_mode != "bf16" else (x, None)
        cfg = dot_config(weight_format(p.weight), m, n, k, 128, split=split, swap=swap, post=post)
        poison_allocator()
        out = gemv(xq, p.weight, p.scale, p.zero, p.group_size, x_scale=xs, a_mode=A_MODE_CODES[a_mode], config=cfg)
        ref = fused_linear_reference(
            xq, p.weight, p.scale, p.zero, 128, None, xs, a_mode, None, 1e-6, None, "none", None, torch.bfloat16
        )
        assert torch.isfinite(out).all()
        tol = TOL_EPILOGUE if fmt == "int4" and post else TOL_FP8_MMA if a_mode == "fp8" else TOL
        assert rel_err(out, ref) < tol, (n, k, cfg)


@pytest.mark.parametrize("fmt, a_mode", [("int8", "bf16"), ("int8", "int8"), ("int4", "bf16")])
@pytest.mark.parametrize("stages", [3, 4])
def test_staged_cuda_core_tiles_match_reference(fmt, a_mode, stages):
    """CUDA-core tiles whose K tiles go through Triton's software pipeliner (cp.async, ``stages`` - 1 ahead), as
    the one-row sweep tries them: plain and fused (RMSNorm from float rows, SiLU·mul / residual) at the 7b gate/up
    (int4 at K = 3584: a narrower tail tile after the staged ones) and the 2b down (split K), 8 and 4 rows."""
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import ACT_NONE, ACT_SILU_MUL, gemv, sum_config, weight_format

    torch.manual_seed(stages)  # the same draw every run, so a failure reproduces
    for n, k, rows, warps, vec, split, fusion in (
        (37888, 3584, 8, 1, 4, 1, "norm+silu"),
        (1536, 8960, 4, 4, 4, 2, "resid"),
    ):
        p = make_pack(fmt, a_mode, n, k)
        x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
        cfg = sum_config(weight_format(p.weight), 1, n, k, rows=rows, warps=warps, vec=vec, split=split, stages=stages)
        code = A_MODE_CODES[a_mode]
        xq, xs = quantize_activation(x, a_mode) if a_mode != "bf16" else (x, None)
        poison_allocator()
        out = gemv(xq, p.weight, p.scale, p.zero, p.group_size, x_scale=xs, a_mode=code, config=cfg)
        ref = fused_linear_reference(
            xq, p.weight, p.scale, p.zero, p.group_size, None, xs, a_mode, None, 1e-6, None, "none", None,
            torch.bfloat16,
        )  # fmt: skip
        assert torch.isfinite(out).all() and rel_err(out, ref) < TOL_EPILOGUE, (n, k, cfg)
        norm = (torch.rand(k, device="cuda") + 0.5).to(torch.bfloat16)
        silu = fusion == "norm+silu"
        resid = None if silu else torch.randn(1, n, device="cuda", dtype=torch.bfloat16)
        fused = dict(norm_weight=norm if silu else None, residual=resid)
        act = ACT_SILU_MUL if silu else ACT_NONE
        out = gemv(x, p.weight, p.scale, p.zero, p.group_size, a_mode=code, act=act, config=cfg, **fused)
        ref = fused_linear_reference(
            x, p.weight, p.scale, p.zero, p.group_size, None, None, a_mode, fused["norm_weight"], 1e-6, None,
            "silu_mul" if silu else "none", resid, torch.bfloat16,
        )  # fmt: skip
        tol = TOL_INT4_ACT if fmt == "int4" and silu else TOL_EPILOGUE
        assert torch.isfinite(out).all() and rel_err(out, ref) < tol, (n, k, cfg, fusion, rel_err(out, ref))


@pytest.mark.parametrize("fmt, a_mode", [("int8", "bf16"), ("bf16", "bf16"), ("int8", "int8")])
def test_staged_tiles_with_their_l2_prefetch_give_the_same_bits(monkeypatch, fmt, a_mode):
    """``$VLMQ_GEMV_PREFETCH=l2`` only moves weight lines into L2 ahead of the PDL wait: the staged one-row tiles'
    outputs (the 2b int8 gate/up and the 7b int8 down shipped tiles' shapes, fused as the step runs them) equal
    those without it bit for bit, launched twice in a row so the second call's prefetch runs under PDL."""
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.gemv import ACT_NONE, ACT_SILU_MUL, gemv, prefetch_lines, sum_config, weight_format

    torch.manual_seed(7)
    for n, k, rows, warps, vec, stages, silu in ((17920, 1536, 8, 1, 2, 3, True), (3584, 18944, 8, 2, 4, 3, False)):
        p = make_pack(fmt, a_mode, n, k)
        cfg = sum_config(weight_format(p.weight), 1, n, k, rows=rows, warps=warps, vec=vec, stages=stages)
        x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
        norm = (torch.rand(k, device="cuda") + 0.5).to(torch.bfloat16) if silu else None
        resid = None if silu else torch.randn(1, n, device="cuda", dtype=torch.bfloat16)
        kw = dict(a_mode=A_MODE_CODES[a_mode], act=ACT_SILU_MUL if silu else ACT_NONE, config=cfg)
        outs = {}
        for setting in ("off", "l2"):
            monkeypatch.setenv("VLMQ_GEMV_PREFETCH", setting)
            assert (prefetch_lines(cfg, p.weight, weight_format(p.weight), True) > 0) == (setting == "l2")
            outs[setting] = [
                gemv(x, p.weight, p.scale, p.zero, p.group_size, norm_weight=norm, residual=resid, **kw)
                for _ in range(2)
            ]
        assert all(torch.equal(a, b) for a, b in zip(outs["off"], outs["l2"])), (n, k)
        assert torch.isfinite(outs["l2"][1]).all()


@pytest.mark.parametrize("preset", ["2b", "7b"])
@pytest.mark.parametrize("fmt", ["int4", "int8", "bf16"])
def test_unmasked_loads_give_the_same_bits(monkeypatch, preset, fmt):
    """``$VLMQ_GEMV_UNMASKED=1`` drops only masks that are true on whole tiles: every shipped one-row CUDA-core tile
    of the preset and format (q/k/v, o, gate/up, down; fused as the step runs them: the norm deferred on q/k/v and
    gate/up, the residual on o and down) gives the masked loads' outputs bit for bit."""
    import vlmq.engine.kernels.gemv as G

    hidden, inter, qkv = {"2b": (1536, 8960, 2048), "7b": (3584, 18944, 4608)}[preset]
    sum_m1, _, dot_m1 = G.measured_tiles()
    code = G.FORMAT_NAMES[fmt]
    torch.manual_seed(3)
    for n, k, fusion in ((qkv, hidden, "norm"), (hidden, hidden, "resid"), (2 * inter, hidden, "silu"),
                         (hidden, inter, "resid")):  # fmt: skip
        tile = sum_m1.get(G.table_key((sum_m1, dot_m1), code, n, k))
        if tile is None:  # a tensor-core tile (or none measured) at one row for this shape
            continue
        rows, warps, vec, split, pipe, stages, maxnreg = tile
        cfg = G.sum_config(code, 1, n, k, rows=rows, warps=warps, vec=vec, split=split, stages=stages)
        cfg = cfg._replace(pipe=pipe, maxnreg=maxnreg)
        p = make_pack(fmt, "bf16", n, k)
        x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
        norm = (torch.rand(k, device="cuda") + 0.5).to(torch.bfloat16) if fusion != "resid" else None
        resid = torch.randn(1, n, device="cuda", dtype=torch.bfloat16) if fusion == "resid" else None
        act = G.ACT_SILU_MUL if fusion == "silu" else G.ACT_NONE
        outs = {}
        for setting in ("0", "1"):
            monkeypatch.setenv("VLMQ_GEMV_UNMASKED", setting)
            outs[setting] = G.gemv(
                x, p.weight, p.scale, p.zero, p.group_size, norm_weight=norm, residual=resid, act=act, config=cfg,
                norm_defer=norm is not None,
            )  # fmt: skip
        assert torch.equal(outs["0"], outs["1"]) and torch.isfinite(outs["0"]).all(), (n, k)


@pytest.mark.parametrize("m", [9, 16])
@pytest.mark.parametrize("swap, post", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("block_n, block_k, warps", [(64, 64, 4), (64, 128, 4), (256, 64, 8)])
def test_int4_fragment_order_tiles_match_reference(m, swap, post, block_n, block_k, warps):
    """int4 tiles in MMA fragment order (``frag``: K permuted within each tile, weights made as bf16 pairs by inline
    PTX: the reference's bf16 weights, or with ``post`` the exact codes v - 8 - z) against the reference at the 2b
    gate_up, 7b gate_up and 7b down shapes: group 128 with zero points, group 64 without, split K on and off, one
    and two warpgroups, mma.sync and warpgroup MMAs."""
    from vlmq.engine.kernels.gemv import dot_config, gemv

    for n, k, split, group, zero in (
        (17920, 1536, 1, 128, True),
        (37888, 3584, 2, 64, False),
        (3584, 18944, 8, 128, True),
    ):
        p = make_pack("int4", "bf16", n, k, group=group, zero=zero)
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        tile = dict(block_n=block_n, block_k=block_k, warps=warps, split=split, swap=swap, post=post, frag=True)
        cfg = dot_config(W_INT4, m, n, k, group, **tile)
        poison_allocator()
        out = gemv(x, p.weight, p.scale, p.zero, group, config=cfg)
        ref = fused_linear_reference(
            x, p.weight, p.scale, p.zero, group, None, None, "bf16", None, 1e-6, None, "none", None, torch.bfloat16
        )
        assert torch.isfinite(out).all()
        assert rel_err(out, ref) < (TOL_EPILOGUE if post else TOL), (n, k, cfg)


@pytest.mark.parametrize("m", [1, 16])
@pytest.mark.parametrize("block_n, block_k, warps", [(64, 256, 4), (64, 512, 4), (128, 256, 8)])
def test_int4_fragment_order_tiles_of_several_groups_match_reference(m, block_n, block_k, warps):
    """int4 fragment-order tiles whose K tile spans two or four groups (``gemv.int4_block_k``: each chunk of a
    lane's words takes its own group's scale and zero point as bf16 pairs) against the reference at the 7b down
    and gate/up and the 2b gate/up shapes, group 128 with zero points and group 64 without."""
    from vlmq.engine.kernels.gemv import dot_config, gemv

    for n, k, group, zero in ((3584, 18944, 128, True), (37888, 3584, 64, False), (17920, 1536, 128, True)):
        if block_k > 4 * group:
            continue
        p = make_pack("int4", "bf16", n, k, group=group, zero=zero)
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        cfg = dot_config(W_INT4, m, n, k, group, block_n=block_n, block_k=block_k, warps=warps, swap=True, frag=True)
        assert cfg.block_k == block_k, cfg  # the wide tile runs, not the one-group cap
        poison_allocator()
        out = gemv(x, p.weight, p.scale, p.zero, group, config=cfg)
        ref = fused_linear_reference(
            x, p.weight, p.scale, p.zero, group, None, None, "bf16", None, 1e-6, None, "none", None, torch.bfloat16
        )
        assert torch.isfinite(out).all() and rel_err(out, ref) < TOL, (n, k, cfg, rel_err(out, ref))


@pytest.mark.parametrize("preset", sorted(DIMS))
@pytest.mark.parametrize("shape", ["qkv", "gate_up"])
def test_rows_stored_in_the_int4_tiles_k_order_give_the_same_outputs(monkeypatch, preset, shape):
    """``$VLMQ_FRAG_ROWS=1``: ``normalize_rows`` stores the 16 normed rows in the K order of the table's swapped
    fragment-order int4 tile, which then reads them without its own permute (``x_frag``): the same products summed
    in the same order, so the output equals the default path's bit for bit, through the fused RMSNorm (and SiLU·mul
    for gate/up), at both presets' shapes."""
    from vlmq.engine.kernels.gemv import ACT_NONE, ACT_SILU_MUL, FRAG_ROWS_ENV, frag_rows_fit, gemv

    d = DIMS[preset]
    n, k = (d["qkv"], d["hidden"]) if shape == "qkv" else (2 * d["inter"], d["hidden"])
    assert frag_rows_fit(default_config(W_INT4, 16, n, k, 128), W_INT4, k)  # the table's tile takes them
    p = make_pack("int4", "bf16", n, k)
    x = torch.randn(16, k, device="cuda", dtype=torch.bfloat16)
    norm = (torch.rand(k, device="cuda") + 0.5).to(torch.bfloat16)
    act = ACT_SILU_MUL if shape == "gate_up" else ACT_NONE
    outs = []
    for setting in ("0", "1"):
        monkeypatch.setenv(FRAG_ROWS_ENV, setting)
        poison_allocator()
        outs.append(gemv(x, p.weight, p.scale, p.zero, 128, norm_weight=norm, act=act))
    assert torch.isfinite(outs[1]).all() and torch.equal(outs[0], outs[1])


def test_ops_dispatch_by_rows():
    """w8_linear / w4a16_linear: decode kernels up to 64 rows, prefill beyond; same results either way."""
    p8 = make_pack("int8", "bf16", 512, 1536)
    p4 = make_pack("int4", "bf16", 512, 1536)
    for m in (1, 7, 64, 65, 200):
        x = torch.randn(m, 1536, device="cuda", dtype=torch.bfloat16)
        assert rel_err(w8_linear(x, p8.weight, p8.scale, None, None, torch.bfloat16), reference(p8, x)) < TOL_PREFILL
        assert (
            rel_err(w4a16_linear(x, p4.weight, p4.scale, p4.zero, 128, None, torch.bfloat16), reference(p4, x))
            < TOL_EPILOGUE
        )


def test_int4_dequantize_kernel_is_bit_exact():
    from vlmq.engine.kernels.prefill import dequantize_int4_cuda

    p = make_pack("int4", "bf16", 1024, 1536)
    assert torch.equal(
        dequantize_int4_cuda(p.weight, p.scale, p.zero, 128, torch.bfloat16),
        dequantize_int4(p.weight, p.scale, p.zero, 128, torch.bfloat16),
    )


@pytest.mark.parametrize("fmt, a_mode", [("bf16", "bf16"), ("int8", "int8"), ("int4", "bf16")])
def test_split_k_inside_a_cuda_graph_replays_exactly(fmt, a_mode):
    """down_proj at decode splits K: replays of a captured graph give the eager result every time (the last
    slice resets its semaphore, so no replay sees a stale count)."""
    p = make_pack(fmt, a_mode, 1536, 8960)
    x = torch.randn(1, 8960, device="cuda", dtype=torch.bfloat16)
    r = torch.randn(1, 1536, device="cuda", dtype=torch.bfloat16)
    eager = run_packed(p, x, residual=r)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        run_packed(p, x, residual=r)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = run_packed(p, x, residual=r)
    for _ in range(3):
        graph.replay()
        torch.cuda.synchronize()
        assert torch.equal(out, eager)


def test_compiles_fullgraph():
    p = make_pack("int4", "bf16", 2 * 1024, 1536)
    g = torch.rand(1536, device="cuda", dtype=torch.bfloat16) + 0.5
    x = torch.randn(2, 1536, device="cuda", dtype=torch.bfloat16)
    fn = torch.compile(lambda t: run_packed(p, t, norm_weight=g, act="silu_mul") * 2, fullgraph=True)
    assert torch.equal(fn(x), run_packed(p, x, norm_weight=g, act="silu_mul") * 2)


@pytest.mark.parametrize("m", [1, 3, 16, 300])
def test_float_rows_are_quantized_as_quantize_activation_does(m):
    """W8A8 from float rows (quantized by normalize_rows before the GEMV / GEMM) equals the op on
    quantize_activation's output bit for bit: the same per-token scales and codes, then the same launch."""
    for fmt in ("int8", "fp8"):
        p = make_pack(fmt, fmt, 2048, 1536)
        x = torch.randn(m, 1536, device="cuda", dtype=torch.bfloat16) * 3
        xq, xs = quantize_activation(x, fmt)
        given = fused_linear(
            xq, p.weight, p.scale, None, 0, None, xs, fmt, None, 1e-6, None, "none", None, torch.bfloat16
        )
        assert torch.equal(run_packed(p, x), given), fmt


def test_w8a8_row_kernel_only_beyond_one_row():
    """W8A8 from float rows: one launch at batch 1 (the GEMV quantizes in its prologue), the row kernel
    (``normalize_rows``) then the tensor-core GEMV at 16 rows; the same output as from rows quantized apart."""
    from torch.profiler import ProfilerActivity, profile

    g = torch.rand(1536, device="cuda", dtype=torch.bfloat16) + 0.5
    for fmt in ("int8", "fp8"):
        p = make_pack(fmt, fmt, 2048, 1536)
        for m, want in ((1, ["gemv_kernel"]), (16, ["normalize_rows_kernel", "gemv_kernel"])):
            x = torch.randn(m, 1536, device="cuda", dtype=torch.bfloat16) * 3
            run_packed(p, x, norm_weight=g)  # compile outside the profile
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                got = run_packed(p, x, norm_weight=g)
                torch.cuda.synchronize()
            kinds = ("normalize_rows_kernel", "gemv_kernel")
            names = [
                next((k for k in kinds if k in e.name), e.name)
                for e in prof.events()
                if e.device_type.name == "CUDA" and "Mem" not in e.name
            ]
            assert names == want, (fmt, m, names)
            want_out = reference(p, x, norm_weight=g)
            assert rel_err(got, want_out) < TOL, (fmt, m)


@pytest.mark.parametrize("preset", sorted(DIMS))
def test_row_prologue_is_the_reference_prologue(preset):
    """normalize_rows against rms_norm_reference (+ pre-scale) + quantize_activation on the GPU: scales and
    codes equal but where the norm's sum of squares, summed in another order, moves a value by a bf16 ulp
    (expected ~1e-5 of the values; bounded at 1e-3 of values and scales)."""
    from vlmq.engine.kernels import rms_norm_reference
    from vlmq.engine.kernels.gemv import A_FLOAT, A_FP8, A_INT8, normalize_rows

    k = DIMS[preset]["hidden"]
    x = torch.randn(64, k, device="cuda", dtype=torch.bfloat16) * 4
    g = torch.rand(k, device="cuda", dtype=torch.bfloat16) + 0.5
    pre = torch.rand(k, device="cuda", dtype=torch.bfloat16) + 0.5
    for mode, code in (("int8", A_INT8), ("fp8", A_FP8), ("bf16", A_FLOAT)):
        for smooth in (None, pre):
            want = rms_norm_reference(x, g, 1e-6)
            want, want_scale = quantize_activation(want * smooth if smooth is not None else want, mode)
            got, got_scale = normalize_rows(x, g, 1e-6, smooth, code)
            assert got.dtype == want.dtype
            assert (got.float() != want.float()).float().mean().item() <= 1e-3, mode
            if want_scale is not None:
                assert (got_scale != want_scale).float().mean().item() <= 1e-3 * 64, mode


@pytest.mark.parametrize("preset", sorted(DIMS))
def test_smoothquant_pre_scale_in_the_prologue(preset):
    """SmoothQuant's per-channel activation smoothing, applied in the kernel before per-token quantization,
    with the norm (q/k/v) and without (down_proj)."""
    d = DIMS[preset]
    h, inter = d["hidden"], d["inter"]
    g = torch.rand(h, device="cuda", dtype=torch.bfloat16) + 0.5
    for n, k, norm in ((d["qkv"], h, g), (h, inter, None)):
        p = make_pack("int8", "int8", n, k)._replace(pre_scale=torch.rand(k, device="cuda", dtype=torch.bfloat16) + 0.5)
        for m in (1, 16):
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            assert rel_err(run_packed(p, x, norm_weight=norm), reference(p, x, norm_weight=norm)) < TOL


def test_both_bf16_roundings_are_the_cast_on_the_gpu():
    """``eager_triton.round_to_bf16`` in both forms -- the hardware conversion (``$VLMQ_ATTENTION_PLAN=rounding=1``)
    and the integer arithmetic (the default, and the interpreter's) -- give PyTorch's cast to bf16 bit
    for bit on 4M hard values: ties, an ulp beside them, subnormals, ±0, ±inf, and finite values that round to
    infinity."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pytest imports tests by path (importlib)
    from quotient_probe import hard_rounding_cases, rounded_to_bf16

    x = hard_rounding_cases(1 << 22, seed=3, device="cuda")
    want = x.to(torch.bfloat16).float().view(torch.int32)
    for hw_rounding in (True, False):
        got = rounded_to_bf16(x, hw_rounding).view(torch.int32)
        assert int((got != want).sum()) == 0, hw_rounding


def test_exact_quotient_is_ieee_division_on_the_gpu():
    """``eager_triton.exact_quotient`` (the FP8 quantizations' division: reciprocal multiply + one FMA correction)
    against CUDA's IEEE division (torch's ``x / d``) on 4M hard pairs, half an ulp from an e4m3 rounding boundary:
    the same bits everywhere, while a multiply alone misses some."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pytest imports tests by path (importlib)
    from quotient_probe import exact_quotients, hard_quotient_cases

    x, d = hard_quotient_cases(1 << 22, seed=2, device="cuda")
    want = (x / d).view(torch.int32)
    assert int((exact_quotients(x, d).view(torch.int32) != want).sum()) == 0
    assert int(((x * (1.0 / d)).view(torch.int32) != want).sum()) > 1000
