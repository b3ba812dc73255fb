"""``vlmq::fused_mlp`` on the GPU: a W8A8 MLP whose down_proj rows are quantized with the row maxima gate/up's
epilogue gathers, against the two ``vlmq::fused_linear`` launches with the row kernel between them.

Run on the GPU machine: ``python -m pytest -q -s tests/engine/test_fused_mlp_gpu.py``.
"""

import os
import sys

import pytest
import torch

from vlmq.engine.graphs import capture_graph
from vlmq.engine.kernels.fused import A_MODE_CODES, fused_linear, fused_mlp, mlp_row_max_launches
from vlmq.engine.kernels.gemv import interleave_rows, row_max_buffers, row_max_on_cuda_cores
from vlmq.engine.kernels.w8 import quantize_activation

pytestmark = pytest.mark.gpu
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # test_fused_gpu's helpers (importlib imports by path)

# (hidden, intermediate) of qwen2-vl-2b and -7b
SHAPES = {"2b": (1536, 8960), "7b": (3584, 18944)}


def mlp_weights(mode: str, hidden: int, inter: int, smooth: bool, gen: torch.Generator):
    """Interleaved gate/up and down weights of ``mode`` ("int8" / "fp8") with per-row scales, SmoothQuant pre-scales
    where ``smooth``, the post-attention norm's weight: what a W8A8 layer's packs hold."""

    def weight(n, k):
        w = torch.randn(n, k, generator=gen) * 0.02
        q, s = quantize_activation(w, mode)  # one scale per output row, the recipes' weight quantization
        return q.cuda(), s.cuda()

    gu, gu_s = weight(2 * inter, hidden)
    gu, gu_s = interleave_rows(gu[:inter], gu[inter:]), interleave_rows(gu_s[:inter], gu_s[inter:])
    down, down_s = weight(hidden, inter)
    pre = lambda k: (torch.rand(k, generator=gen) + 0.5).bfloat16().cuda() if smooth else None  # noqa: E731
    norm = (torch.rand(hidden, generator=gen) + 0.5).bfloat16().cuda()
    return gu, gu_s, pre(hidden), down, down_s, pre(inter), norm


def two_launches(x, resid, mode, gu, gu_s, gu_p, down, down_s, down_p, norm):
    m = fused_linear(x, gu, gu_s, None, 0, None, None, mode, norm, 1e-6, gu_p, "silu_mul", None, torch.bfloat16)
    return m, fused_linear(
        m, down, down_s, None, 0, None, None, mode, None, 1e-6, down_p, "none", resid, torch.bfloat16
    )


@pytest.mark.parametrize("preset", ["2b", "7b"])
@pytest.mark.parametrize("mode, smooth", [("int8", True), ("int8", False), ("fp8", False)])
@pytest.mark.parametrize("rows", [1, 3, 16])
@pytest.mark.parametrize("launch", ["row_max_launches", "fused_mlp"])
def test_fused_mlp_equals_the_two_launches_bit_for_bit(preset, mode, smooth, rows, launch):
    """The same codes, hence the same output: down_proj's tile and sums are those of the launch after
    ``normalize_rows`` (or the CUDA-core prologue), only the per-token quantization moved into its loads, on every
    tile (``mlp_row_max_launches``). The slot holds each row's absolute maximum after the pre-scale, and the next
    slot was zeroed. ``vlmq::fused_mlp`` takes that path where down_proj runs on the CUDA cores, else the two
    launches, leaving both slots as they were."""
    gen = torch.Generator().manual_seed(7)
    hidden, inter = SHAPES[preset]
    gu, gu_s, gu_p, down, down_s, down_p, norm = mlp_weights(mode, hidden, inter, smooth, gen)
    x = (torch.randn(rows, hidden, generator=gen) * 2).bfloat16().cuda()
    resid = torch.randn(rows, hidden, generator=gen).bfloat16().cuda()
    m, want = two_launches(x, resid, mode, gu, gu_s, gu_p, down, down_s, down_p, norm)
    slot, next_slot = row_max_buffers(2, x.device)
    next_slot.fill_(3.0)
    run = mlp_row_max_launches if launch == "row_max_launches" else fused_mlp
    got = run(x, gu, gu_s, None, gu_p, down, down_s, None, down_p, mode, norm, 1e-6, resid, slot, next_slot,
              torch.bfloat16)  # fmt: skip
    assert torch.equal(got, want), f"max |diff| {(got.float() - want.float()).abs().max().item()}"
    if launch == "fused_mlp" and not row_max_on_cuda_cores(down, rows, A_MODE_CODES[mode], smooth):
        assert not slot.any() and bool((next_slot == 3.0).all())
        return
    v = m * down_p if smooth else m
    assert torch.equal(slot[:rows], v.float().abs().amax(dim=1)) and not slot[rows:].any()
    assert not next_slot.any()


def test_a_ring_of_slots_replayed_from_a_cuda_graph():
    """Two layers whose slots form a ring (each zeroes the other's), captured in one CUDA graph and replayed three
    times with new inputs: every replay equals the two-launch path, so no slot carries a maximum into the next use."""
    gen = torch.Generator().manual_seed(11)
    hidden, inter = SHAPES["2b"]
    layers = [mlp_weights("int8", hidden, inter, True, gen) for _ in range(2)]
    slots = row_max_buffers(2, torch.device("cuda"))
    x = torch.zeros(4, hidden, dtype=torch.bfloat16, device="cuda")

    def step():
        h = x
        for i, (gu, gu_s, gu_p, down, down_s, down_p, norm) in enumerate(layers):
            h = fused_mlp(h, gu, gu_s, None, gu_p, down, down_s, None, down_p, "int8", norm, 1e-6, h, slots[i],
                          slots[1 - i], torch.bfloat16)  # fmt: skip
        return h

    def reference():
        h = x
        for gu, gu_s, gu_p, down, down_s, down_p, norm in layers:
            h = two_launches(h, h, "int8", gu, gu_s, gu_p, down, down_s, down_p, norm)[1]
        return h

    graph, out = capture_graph(step)
    for scale in (1.0, 8.0, 0.25):  # the largest rows first: a stale maximum would show in the next replays
        x.copy_(torch.randn(4, hidden, generator=gen).mul(scale).bfloat16())
        graph.replay()
        torch.cuda.synchronize()
        assert torch.equal(out, reference()), scale


def engine_tokens(recipe: str, batch: int, row_max: str, calib, with_slots: bool = False) -> tuple:
    """(greedy tokens of 8 steps from the compiled engine's CUDA graphs, its decode label, one replayed step's
    kernels[, which row-maximum slots hold maxima after them]) with ``$VLMQ_W8A8_ROW_MAX`` set to ``row_max`` as the
    runner is built."""
    from test_fused_gpu import cuda_kernels, engine_for

    os.environ["VLMQ_W8A8_ROW_MAX"] = row_max
    try:
        engine = engine_for(recipe, calib, batch)
    finally:
        os.environ.pop("VLMQ_W8A8_ROW_MAX")
    with torch.no_grad():
        state = engine.synthetic_context(batch, 40)
        token = torch.arange(batch, device="cuda") + 5
        tokens = []
        for _ in range(8):
            token = engine.decode_step(state, token).clone()
            tokens.append(token.tolist())
        slots = [bool(p.row_max[0].any()) for p in engine.compiled.packs] if with_slots else None
        kernels = cuda_kernels(engine.compiled.graphs[batch].graph.replay)
    return (tokens, engine.compiled.label, kernels) + ((slots,) if with_slots else ())


@pytest.mark.parametrize("recipe", ["smoothquant", "fp8"])
@pytest.mark.parametrize("batch", [1, 8])
def test_compiled_engine_with_gate_up_maxima_gives_the_same_tokens(recipe, batch, calib):
    """End to end on the toy through the compiled engine's CUDA graphs: ``$VLMQ_W8A8_ROW_MAX=gate_up`` (fp8's default)
    chooses ``kernel``'s greedy tokens, with as many kernels a step less the row kernels it saves (none on the toy:
    at 1 row down_proj's CUDA-core prologue quantizes in both, at 8 rows fused_mlp takes the two launches); every
    slot but the first holds maxima after a step where down_proj runs on the CUDA cores, none otherwise."""
    want, _, default_kernels = engine_tokens(recipe, batch, "kernel", calib)
    got, label, kernels, slots = engine_tokens(recipe, batch, "gate_up", calib, with_slots=True)
    rows = lambda names: sum("normalize_rows" in n for n in names)  # noqa: E731
    print(f"\n{recipe} batch {batch}: {label}; row kernels a step {rows(default_kernels)} -> {rows(kernels)}")
    assert "gate/up's row maxima" in label
    assert got == want
    assert len(kernels) == len(default_kernels) - (rows(default_kernels) - rows(kernels))
    # the ring after a step: each layer zeroed the next one's slot before that one gathered into it, and the last
    # zeroed the first's
    assert slots == ([False] + [True] * 3 if batch == 1 else [False] * 4)


@pytest.fixture(scope="module")
def calib():
    from vlmq.recipes import load_calibration

    return load_calibration("builtin", n=8, languages=("en",), seed=0)
