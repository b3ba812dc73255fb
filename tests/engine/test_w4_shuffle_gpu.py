"""CUTLASS's int4 prefill GEMM over the shuffled weight layout (``cutlass_gemm.w4_shuffle``,
``w4a16_gemm(shuffled=True)``) on a Hopper GPU: the Triton shuffle equals CUTLASS's own reorder, and the product is
the tile of the same shape's over the packed layout, bit for bit (only the data movement differs), also with the
shuffle replayed from a CUDA graph, as a prefill makes it one layer ahead.

Run on the GPU machine with the CUTLASS library built: ``python -m pytest -q tests/engine/test_w4_shuffle_gpu.py``.
"""

import pytest
import torch

from vlmq.engine.graphs import capture_graph
from vlmq.engine.kernels import cutlass_gemm, pack_int4

pytestmark = pytest.mark.gpu

TWINS = {s_tile: tile for tile, s_tile in cutlass_gemm.W4_SHUFFLED_TWINS.items()}  # w4a16s tile -> its w4a16 twin
SHAPES = {"7b gate_up": (37888, 3584), "7b down": (3584, 18944), "2b gate_up": (17920, 1536), "small": (256, 512)}


@pytest.fixture(autouse=True)
def cutlass_built():
    reason = cutlass_gemm.unavailable_reason()
    if reason:
        pytest.skip(reason)


def int4_weights(n: int, k: int, group: int, zeros: bool, gen: torch.Generator):
    q = pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8, generator=gen)).cuda()
    scale = (torch.rand(n, k // group, generator=gen) * 0.02).bfloat16().cuda()
    zero = torch.randint(-8, 8, (n, k // group), dtype=torch.int8, generator=gen).cuda() if zeros else None
    return q, scale, zero


@pytest.mark.parametrize("shape", list(SHAPES) + ["2b down", "7b qkv"])
def test_the_triton_shuffle_is_cutlass_reorder(shape):
    """The layout derived from the wgmma fragment (``w4_shuffle_reference``'s docstring), made by the Triton kernel,
    is the one CUTLASS computes from the MMA atom itself (its reorder, 10x slower)."""
    n, k = {**SHAPES, "2b down": (1536, 8960), "7b qkv": (4608, 3584)}[shape]
    q, _, _ = int4_weights(n, k, 128, False, torch.Generator().manual_seed(4))
    assert torch.equal(cutlass_gemm.w4_shuffle(q), cutlass_gemm.w4_shuffle_cutlass(q))


def test_the_shuffled_tiles_are_the_packed_ones_shapes():
    assert cutlass_gemm.tiles("w4a16s") == len(TWINS)
    for s_tile, tile in TWINS.items():
        assert cutlass_gemm.tile_shape(s_tile, "w4a16s") == cutlass_gemm.tile_shape(tile, "w4a16")


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("rows", [300, 77])
@pytest.mark.parametrize("zeros", [True, False])
def test_shuffled_weights_give_the_packed_product_bit_for_bit(shape, rows, zeros):
    gen = torch.Generator().manual_seed(5)
    n, k = SHAPES[shape]
    q, scale, zero = int4_weights(n, k, 128, zeros, gen)
    x = torch.randn(rows, k, generator=gen).bfloat16().cuda()
    bias = torch.randn(n, generator=gen).bfloat16().cuda()
    terms = cutlass_gemm.w4_group_terms(scale, zero)
    shuffled = cutlass_gemm.w4_shuffle_cutlass(q)
    assert shuffled.shape == q.shape and not torch.equal(shuffled, q)
    for s_tile, tile in TWINS.items():
        want = cutlass_gemm.w4a16_gemm(x, q, scale, zero, 128, bias, tile, terms)
        got = cutlass_gemm.w4a16_gemm(x, shuffled, scale, zero, 128, bias, s_tile, terms, shuffled=True)
        assert torch.equal(got, want), f"tile {s_tile}: max |diff| {(got.float() - want.float()).abs().max().item()}"


def test_the_shuffle_replays_from_a_cuda_graph():
    gen = torch.Generator().manual_seed(6)
    q, _, _ = int4_weights(3584, 3584, 128, False, gen)
    want = cutlass_gemm.w4_shuffle(q)
    source = q.clone()
    graph, out = capture_graph(lambda: cutlass_gemm.w4_shuffle(source))
    source.copy_(int4_weights(3584, 3584, 128, False, gen)[0])
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(out, cutlass_gemm.w4_shuffle(source)) and not torch.equal(out, want)
