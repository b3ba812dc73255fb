"""CUTLASS's prefill GEMMs (mixed-input W8A16 / W4A16 and W8A8 FP8 / int8, ``cutlass_gemm``) on the GPU against
``w8_linear_reference`` / ``w4a16_linear_reference``
(run on the lent H200 with the library built: ``VLMQ_CUTLASS_LIB=... python -m pytest -q -m gpu
tests/engine/test_cutlass_gpu.py``).

The same arithmetic as the reference (int8 widened to bf16 exactly, fp32 sums, the row scale on the fp32 sum, bias
added in fp32, one rounding to bf16) in another summation order, so an output may round to the neighbouring bf16
value: the error's norm below 1e-3 of the output's (``TOL``, as test_kernels_gpu's) and no output further from the
reference rounded to bf16 than one bf16 step of the largest output (2^-7 of it; an output that cancels to near
zero carries the fp32 summation error of its large terms, so a step of its own magnitude is too strict: the H200
showed such outputs in every shape, twelfth session, call 2). Against the fp32 reference the bf16 rounding alone
is 2^-9 of the largest output (call 1 compared with that at 1e-3 and failed every case at 1.97e-3)."""

import pytest
import torch

from vlmq.engine.kernels import (
    cutlass_gemm,
    pack_int4,
    quantize_activation,
    w4a16_linear_reference,
    w8_linear_reference,
)
from vlmq.engine.kernels.prefill import cutlass_linear, cutlass_runs, prefill_linear

pytestmark = pytest.mark.gpu

TOL = 1e-3
SHAPES = {  # (N, K): the 7b and 2b projections, and a small one
    "7b qkv": (4608, 3584),
    "7b o": (3584, 3584),
    "7b gate_up": (37888, 3584),
    "7b down": (3584, 18944),
    "2b qkv": (2048, 1536),
    "2b down": (1536, 8960),
    "small": (264, 256),
}


@pytest.fixture(scope="module")
def built():
    reason = cutlass_gemm.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def operands(m, n, k, bias, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(m, k, device="cuda", generator=g).bfloat16()
    w = torch.randint(-127, 128, (n, k), dtype=torch.int8, device="cuda", generator=g)
    s = torch.rand(n, device="cuda", generator=g) * 1e-3 + 1e-4
    b = torch.randn(n, device="cuda", generator=g).bfloat16() if bias else None
    return x, w, s, b


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("m", [300, 77, 1029, 5])
def test_w8a16_gemm_matches_the_reference(built, shape, m):
    n, k = SHAPES[shape]
    x, w, s, b = operands(m, n, k, bias=shape.endswith("qkv"))
    ref = w8_linear_reference(x, w, s, None, b, torch.bfloat16).float()
    for tile in [None, *range(cutlass_gemm.tiles())]:
        check(cutlass_gemm.w8a16_gemm(x, w, s, b, tile), ref, TOL, f"tile {tile}")


def check(y, ref, tol, what, step=2**-7):
    assert y.shape == ref.shape and y.dtype == torch.bfloat16, what
    diff = (y.float() - ref).abs()
    err = (diff.norm() / ref.norm()).item()
    assert err < tol, f"{what}: relative error {err:.2e}"
    bound = ref.abs().max() * step
    assert (diff <= bound).all(), f"{what}: {(diff > bound).sum().item()} outputs beyond {step:g} of the largest"


def test_w8a16_gemm_replays_in_a_cuda_graph(built):
    x, w, s, b = operands(300, 2048, 1536, bias=True)
    eager = cutlass_gemm.w8a16_gemm(x, w, s, b)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = cutlass_gemm.w8a16_gemm(x, w, s, b)
    x.copy_(torch.randn_like(x))
    graph.replay()
    fresh = cutlass_gemm.w8a16_gemm(x, w, s, b)
    assert torch.equal(captured, fresh) and not torch.equal(captured, eager)


def test_w8a16_gemm_refuses_a_k_it_cannot_load(built):
    x, w, s, _ = operands(300, 256, 136, bias=False)
    with pytest.raises(RuntimeError, match="shape not supported"):
        cutlass_gemm.w8a16_gemm(x, w, s, None)


def w8a8_operands(m, n, k, a_mode, bias, seed=0):
    """Activations quantized per token as the engine does (``quantize_activation``), weights over the whole 8-bit
    range (e4m3 values up to 448, int8 -127..127), per-channel scales."""
    x, w, s, b = operands(m, n, k, bias, seed)
    xq, xs = quantize_activation(x, a_mode)
    if a_mode == "fp8":
        g = torch.Generator(device="cuda").manual_seed(seed + 1)
        w = (torch.randn(n, k, device="cuda", generator=g) * 100).clamp(-448, 448).to(torch.float8_e4m3fn)
    return xq, w, s, xs, b


# int8 x int8 sums are exact in int32: as W8A16's, against the reference rounded to bf16. FP8 tiles accumulate in
# the MMA's own accumulator over the whole K loop (fast accumulation, which keeps fewer bits than fp32) or add
# each 128-deep block into fp32 registers: against the fp32 reference, the bf16 rounding of the output included
# (first H200 run, 2026-12-01: largest error over the largest output 2.2e-3 without, 4.4e-3 with fast accumulation)
TOL_W8A8 = {"int8": (TOL, 2**-7), "fp8": (4e-3, 2**-5)}
REF_DTYPE = {"int8": torch.bfloat16, "fp8": torch.float32}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("m", [300, 77, 1029, 5])
@pytest.mark.parametrize("a_mode", ["fp8", "int8"])
def test_w8a8_gemm_matches_the_reference(built, shape, m, a_mode):
    """Every W8A8 tile, the default one too, with and without a bias, M not a multiple of any tile (77, 1029)."""
    fmt = f"w8a8_{a_mode}"
    if not cutlass_gemm.tiles(fmt):
        pytest.skip(f"library built without the {fmt} GEMMs")
    n, k = SHAPES[shape]
    xq, w, s, xs, b = w8a8_operands(m, n, k, a_mode, bias=shape.endswith("qkv"))
    ref = w8_linear_reference(xq, w, s, xs, b, REF_DTYPE[a_mode]).float()
    tol, step = TOL_W8A8[a_mode]
    for tile in [None, *range(cutlass_gemm.tiles(fmt))]:
        check(cutlass_gemm.w8a8_gemm(xq, w, s, xs, b, tile), ref, tol, f"{fmt} tile {tile}", step)


def test_w8a8_gemm_replays_in_a_cuda_graph(built):
    xq, w, s, xs, b = w8a8_operands(300, 2048, 1536, "fp8", bias=True)
    eager = cutlass_gemm.w8a8_gemm(xq, w, s, xs, b)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = cutlass_gemm.w8a8_gemm(xq, w, s, xs, b)
    xs.mul_(2)  # the token scales are read at replay, not at capture
    graph.replay()
    fresh = cutlass_gemm.w8a8_gemm(xq, w, s, xs, b)
    assert torch.equal(captured, fresh) and not torch.equal(captured, eager)


def int4_operands(m, n, k, group, symmetric, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(m, k, device="cuda", generator=g).bfloat16()
    q = torch.randint(-8, 8, (n, k), dtype=torch.int8, device="cuda", generator=g)
    s = (torch.rand(n, k // group, device="cuda", generator=g) * 0.02 + 1e-3).bfloat16()
    z = None if symmetric else torch.randint(-8, 8, (n, k // group), dtype=torch.int8, device="cuda", generator=g)
    return x, pack_int4(q), s, z


@pytest.mark.parametrize("shape", ["7b qkv", "7b down", "2b qkv", "small"])
@pytest.mark.parametrize("m", [300, 77, 5])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("group", [128, 64])
def test_w4a16_gemm_matches_the_reference(built, shape, m, symmetric, group):
    """Symmetric packs: the weights CUTLASS widens are the reference's to the bit (-8 * scale is exact), so every
    output is within one bf16 step. With zero points the zero term -(zero + 8) * scale is rounded to bf16 once per
    group (w4_group_terms), a shared offset of up to 2^-9 of it on the group's weights: 5e-3 of the output's norm,
    as test_kernels_gpu's TOL_EPILOGUE for int4."""
    if not cutlass_gemm.tiles("w4a16"):
        pytest.skip("library built without the int4 GEMMs")
    n, k = SHAPES[shape]
    x, packed, s, z = int4_operands(m, n, k, group, symmetric)
    ref = w4a16_linear_reference(x, packed, s, z, group, None, torch.bfloat16).float()
    for tile in [None, *range(cutlass_gemm.tiles("w4a16"))]:
        if tile is not None and group % cutlass_gemm.tile_shape(tile, "w4a16")[3]:
            # a K tile deeper than the group: CUTLASS loads one scale per K tile, so the call is refused, in one line
            with pytest.raises(RuntimeError, match=f"tile {tile}: shape not supported .*group a multiple"):
                cutlass_gemm.w4a16_gemm(x, packed, s, z, group, None, tile)
            continue
        y = cutlass_gemm.w4a16_gemm(x, packed, s, z, group, None, tile)
        check(y, ref, TOL if symmetric else 5e-3, f"tile {tile}")


@pytest.mark.parametrize("shape", ["7b gate_up", "7b down", "small"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_int4_group_terms_kernel_equals_the_eager_expression(shape, symmetric):
    """The one-launch group terms (Triton, needs no library) give the eager expression's bf16s bit for bit."""
    n, k = SHAPES[shape]
    _, _, s, z = int4_operands(1, n, k, 128, symmetric)
    s = (s * 2.0 ** torch.randint(-12, 4, s.shape, device="cuda")).bfloat16()  # many binades
    got, want = cutlass_gemm.w4_group_terms(s, z), cutlass_gemm.w4_group_terms_reference(s, z)
    for g, w in zip(got, want):
        assert g.shape == w.shape == (k // 128, n) and g.dtype == w.dtype and torch.equal(g, w)


def test_prefill_linear_runs_the_tile_table_s_cutlass_tiles(built):
    """Where the shipped tile table records a CUTLASS tile for a weight-only shape, prefill_linear runs exactly that
    GEMM (bit for bit), and the explicit path does too; elsewhere it keeps dequantize-then-cuBLAS."""
    from vlmq.engine.kernels.gemv import CutlassTile, tile_table

    entries = [t for t in tile_table().get("prefill", []) if t.get("cutlass") is not None]
    if not entries:
        pytest.skip("the shipped tile table records no CUTLASS tile")
    for entry in entries:
        n, k, m, tile = entry["n"], entry["k"], entry["m"], CutlassTile(entry["cutlass"]["tile"])
        xs, tol, step = None, TOL, 2**-7
        if entry["mode"] == "int8-a16":
            x, w, s, b = operands(m, n, k, bias=True)
            z, group, ref = None, 0, w8_linear_reference(x, w, s, None, b, torch.bfloat16).float()
        elif entry["mode"] in ("int8-a8", "fp8-a8"):
            a_mode = entry["mode"].removesuffix("-a8")
            x, w, s, xs, b = w8a8_operands(m, n, k, a_mode, bias=True)
            z, group, ref = None, 0, w8_linear_reference(x, w, s, xs, b, REF_DTYPE[a_mode]).float()
            tol, step = TOL_W8A8[a_mode]
        else:
            x, w, s, z = int4_operands(m, n, k, 128, symmetric=False)
            b, group = None, 128
            ref = w4a16_linear_reference(x, w, s, z, group, None, torch.bfloat16).float()
        tol = tol if z is None else 5e-3
        assert cutlass_runs(x, w, group)
        got = prefill_linear(x, w, s, z, group, b, xs, torch.bfloat16)
        want = cutlass_linear(x, w, s, z, group, b, torch.bfloat16, tile.index, x_scale=xs)
        assert torch.equal(got, want), entry["shape"]
        check(got, ref, tol, entry["shape"], step)
        explicit = prefill_linear(x, w, s, z, group, b, xs, torch.bfloat16, path="cutlass")
        check(explicit, ref, tol, entry["shape"] + " (path='cutlass')", step)


LIBRARY_PATH = {"int8_wo": "dequant", "int4_wo": "dequant", "fp8": "scaled_mm", "smoothquant": "triton"}
KINDS = {"int8_wo": "w8a16", "int4_wo": "w4a16", "fp8": "w8a8_fp8", "smoothquant": "w8a8_int8"}


@pytest.mark.parametrize(
    "recipe, compiled",
    [
        ("int8_wo", False),
        ("int4_wo", False),
        ("int8_wo", True),
        ("fp8", False),
        ("fp8", True),
        ("smoothquant", False),
        ("smoothquant", True),
    ],
)
def test_toy_answers_through_cutlass_prefill_match_the_library_path(built, recipe, compiled, monkeypatch):
    """End to end on the toy: every quantized prefill GEMM forced through CUTLASS (the toy's shapes are not in the
    tile table) gives the greedy answers of the library path (dequantize-then-cuBLAS, ``_scaled_mm``, the Triton
    int8 GEMM), through the eager and the compiled engine."""
    from vlmq.engine import Engine
    from vlmq.engine.kernels import prefill
    from vlmq.models import load_model
    from vlmq.recipes import apply_recipe, engine_options, load_calibration, parse_recipe, prepare_engine
    from vlmq.tasks import TaskOptions, get_task

    task = get_task("shapes-vqa")
    prompts = [s.prompt for s in task.load(TaskOptions(limit=8, seed=0))[:8]]
    spec = parse_recipe(recipe)
    loaded = load_model("toy", device="cuda")
    calib = load_calibration("builtin", n=8, languages=("en",), seed=0) if spec.recipe.needs_calibration else None
    apply_recipe(loaded, spec, calib)
    kind = KINDS[recipe]
    calls = []
    real = prefill.cutlass_linear
    monkeypatch.setattr(prefill, "cutlass_linear", lambda *a, **k: calls.append(1) or real(*a, **k))
    runs = {}
    for path in (LIBRARY_PATH[recipe], "cutlass"):
        monkeypatch.setitem(prefill.PREFILL_PATH, kind, path)
        engine = Engine(loaded, **engine_options(spec), compile=compiled, max_batch_size=4)
        prepare_engine(engine, spec, None)
        runs[path] = [g.text for g in engine.generate(prompts, task.max_new_tokens)]
    assert runs["cutlass"] == runs[LIBRARY_PATH[recipe]]
    assert all(a.strip() for a in runs["cutlass"])
    assert calls, "no prefill GEMM reached CUTLASS (prompts shorter than the decode kernels' rows?)"
