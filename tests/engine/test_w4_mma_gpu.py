"""The int4 tensor-core decode GEMV (``cutlass/w4_gemv.cu``, ``cutlass_gemm.w4_gemv``) on the GPU against
``fused_linear_reference`` (run on the lent H200 with the library built: ``VLMQ_CUTLASS_LIB=... python -m pytest -q
-m gpu tests/engine/test_w4_mma_gpu.py``).

Tolerances as test_kernels_gpu's (its module doc): 1e-3 where the kernel rounds each weight to bf16 as the reference
does and only the fp32 summation order differs; 5e-3 with a bias (the reference rounds x @ W^T before adding it),
the residual, or ``post`` configurations (group scales on the exact sums); 1e-2 through SiLU·mul. Every
configuration the library builds runs at the 2b and 7b shapes, rows 1-16, groups 32 / 64 / 128, with and without
zero points, and on shapes that end mid-block and mid-chunk."""

import os
import sys

import pytest
import torch

from vlmq.engine.kernels import cutlass_gemm, pack_int4
from vlmq.engine.kernels.gemv import ACT_SILU_MUL, MMA_ENV, gemv, mma_config, mma_runs

sys.path.insert(0, os.path.dirname(__file__))
from test_kernels_gpu import TOL, TOL_EPILOGUE, TOL_INT4_ACT, poison_allocator, reference, rel_err  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def configs():
    if not mma_runs(torch.device("cuda")):
        pytest.skip(cutlass_gemm.unavailable_reason() or "the int4 tensor-core GEMV runs on Hopper only")
    return sorted(cutlass_gemm.w4_gemv_configs())


def int4_pack(n, k, group, zero, bias, seed):
    from vlmq.engine.kernels import PackedLinear

    g = torch.Generator(device="cuda").manual_seed(seed)
    kw = dict(device="cuda", generator=g)
    q = torch.randint(-8, 8, (n, k), dtype=torch.int8, **kw)
    s = (torch.rand(n, k // group, **kw) * 0.01 + 1e-3).to(torch.bfloat16)
    z = torch.randint(-8, 8, (n, k // group), dtype=torch.int8, **kw) if zero else None
    b = torch.randn(n, dtype=torch.bfloat16, **kw) if bias else None
    return PackedLinear(pack_int4(q), s, z, group, b, "bf16")


def run(p, x, tile, split=1, **kw):
    """The op through ``gemv`` with the tensor-core config ``tile``; the output has no NaN from a poisoned heap."""
    poison_allocator()
    act = ACT_SILU_MUL if kw.get("act") == "silu_mul" else 0
    out = gemv(
        x, p.weight, p.scale, p.zero, p.group_size, p.bias, act=act, residual=kw.get("residual"),
        norm_weight=kw.get("norm_weight"), config=mma_config(tile, x.shape[0], split),
    )  # fmt: skip
    assert torch.isfinite(out).all()
    return out


SHAPES = {  # (N, K, what the engine fuses): the 2b and 7b projections
    "2b qkv": (2048, 1536, "bias"),
    "2b gate_up": (17920, 1536, "silu"),
    "2b down": (1536, 8960, "resid"),
    "7b qkv": (4608, 3584, "bias"),
    "7b gate_up": (37888, 3584, "silu"),
    "7b down": (3584, 18944, "resid"),
}


def tolerance(fusion: str, post: bool) -> float:
    if fusion == "silu":
        return TOL_INT4_ACT
    return TOL_EPILOGUE if post or fusion in ("bias", "resid") else TOL


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("m", [1, 5, 16])
def test_every_configuration_matches_the_reference(configs, shape, m):
    n, k, fusion = SHAPES[shape]
    p = int4_pack(n, k, 128, zero=m != 5, bias=fusion == "bias", seed=m)
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    kw = {}
    if fusion == "silu":
        kw = dict(act="silu_mul", norm_weight=torch.rand(k, device="cuda", dtype=torch.bfloat16) + 0.5)
    if fusion == "resid":
        kw = dict(residual=torch.randn(m, n, device="cuda", dtype=torch.bfloat16))
    want = reference(p, x, **kw)
    for tile in configs:
        got = run(p, x, tile, **kw)
        assert got.shape == want.shape
        assert rel_err(got, want) < tolerance(fusion, tile.post), (tile, shape, m)


@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("zero", [False, True])
@pytest.mark.parametrize("n, k", [(264, 256), (40, 1440), (3584, 3584)])
@pytest.mark.parametrize("m", [1, 8, 9])
def test_groups_and_ragged_shapes(configs, group, zero, n, k, m):
    """N not a multiple of a CTA's rows (264 = 16 x 16 + 8), K not a multiple of the 128-column chunk (1440 = 11
    chunks and a quarter: lanes past K), groups of 32 and 64 (the lane's 32 columns in one group), rows 8 and 9 (one
    MMA operand, then two). ``post`` configurations take groups of 128 only and are refused the others."""
    if k % group:
        pytest.skip("K not a multiple of the group")
    p = int4_pack(n, k, group, zero=zero, bias=False, seed=group + m)
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    want = reference(p, x)
    for tile in configs:
        if tile.post and group % 128:
            assert not cutlass_gemm.w4_gemv_fits(x, p.weight, p.scale, p.zero, group, tile)
            with pytest.raises(RuntimeError, match="shape not supported"):
                cutlass_gemm.w4_gemv(x, p.weight, p.scale, p.zero, group, None, None, False, tile, False)
            continue
        assert rel_err(run(p, x, tile), want) < (TOL_EPILOGUE if tile.post else TOL), (tile, n, k, group)


@pytest.mark.parametrize("split", [2, 3, 7])
@pytest.mark.parametrize("shape", ["2b down", "7b down", "7b qkv"])
def test_split_k_over_ctas_matches_the_reference(configs, split, shape):
    """K over ``split`` CTAs a row block (fp32 partials, the last to arrive finishes): slices of unequal length (148
    chunks over 3 or 7), rows 1 and 16, three launches in a row (the semaphores must be back at zero after each)."""
    n, k, fusion = SHAPES[shape]
    for m in (1, 16):
        p = int4_pack(n, k, 128, zero=True, bias=fusion == "bias", seed=split)
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        kw = dict(residual=torch.randn(m, n, device="cuda", dtype=torch.bfloat16)) if fusion == "resid" else {}
        want = reference(p, x, **kw)
        for tile in configs[:: max(1, len(configs) // 4)]:
            for _ in range(3):
                assert rel_err(run(p, x, tile, split, **kw), want) < tolerance(fusion, tile.post), (tile, split, m)


def test_replayed_from_a_cuda_graph_with_pdl_equals_a_launch(configs):
    """Inside a CUDA graph, launched as a programmatic dependent of the kernel that writes its input (the wait comes
    before the activations are read): the replay's output equals an eager launch's to the bit."""
    n, k = 3584, 3584
    p = int4_pack(n, k, 128, zero=True, bias=True, seed=7)
    src = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
    tile = configs[0]
    sems = torch.zeros(4096, dtype=torch.int32, device="cuda")

    def step():
        x = src * 2.0  # the previous kernel: the GEMV must wait for it
        whole = cutlass_gemm.w4_gemv(x, p.weight, p.scale, p.zero, 128, p.bias, None, False, tile, True)
        split = cutlass_gemm.w4_gemv(x, p.weight, p.scale, p.zero, 128, p.bias, None, False, tile, True, 4, sems)
        return torch.cat([whole, split])

    eager = step()  # (no warm-up on a side stream needed: nothing compiles or allocates a workspace on first use)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()
    src.copy_(torch.randn_like(src))
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(out, step())
    assert not torch.equal(out, eager)
    assert not sems.any()  # every counter back at zero


def test_the_env_setting_routes_the_engine_op(configs, monkeypatch):
    """``$VLMQ_W4_MMA`` makes ``vlmq::fused_linear`` (the engine's op) run the tensor-core GEMV on int4 decode calls
    (norm first, then the kernel), and ``off`` the Triton kernels: the two agree within the epilogue tolerance."""
    from vlmq.engine.kernels import fused_linear

    n, k = 2048, 1536
    p = int4_pack(n, k, 128, zero=True, bias=True, seed=3)
    x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
    g = torch.rand(k, device="cuda", dtype=torch.bfloat16) + 0.5
    args = (x, p.weight, p.scale, p.zero, 128, p.bias, None, "bf16", g, 1e-6, None, "none", None, torch.bfloat16)
    tile = configs[0]
    monkeypatch.setenv(MMA_ENV, ",".join(str(int(v)) for v in tile))
    with_mma = fused_linear(*args)
    monkeypatch.setenv(MMA_ENV, "off")
    without = fused_linear(*args)
    assert rel_err(with_mma, without) < TOL_EPILOGUE
    assert rel_err(with_mma, reference(p, x, norm_weight=g)) < TOL_EPILOGUE
