"""Weight-only prefill with its weight-side work one layer ahead on a side stream (``prefill.SidePreparation``,
``$VLMQ_PREFILL_PREPARE=side``) gives the products of the plain prefill bit for bit: eagerly, replayed from a CUDA
graph, and end to end through the compiled engine (run on the GPU machine: ``python -m pytest -q -m gpu
tests/engine/test_prefill_prepare_gpu.py``; with ``VLMQ_CUTLASS_LIB`` set the 7b int4 gate/up takes CUTLASS's
route and its group terms are made ahead, else every weight's bf16 copy is)."""

import pytest
import torch

from vlmq.engine.graphs import capture_graph
from vlmq.engine.kernels import pack_int4
from vlmq.engine.kernels.prefill import SidePreparation, prefill_linear, work_ahead

pytestmark = pytest.mark.gpu

ROWS = 300
SHAPES = [("int4", 4608, 3584), ("int4", 37888, 3584), ("int8", 3584, 3584)]  # 7b q/k/v, gate/up; an int8 o


def random_layer(seed: int) -> list[tuple]:
    g = torch.Generator(device="cuda").manual_seed(seed)
    layer = []
    for fmt, n, k in SHAPES:
        q = torch.randint(-8, 8, (n, k), dtype=torch.int8, device="cuda", generator=g)
        if fmt == "int4":
            scale = (torch.rand(n, k // 128, device="cuda", generator=g) * 0.01).bfloat16()
            zero = torch.randint(-8, 8, (n, k // 128), dtype=torch.int8, device="cuda", generator=g)
            layer.append((pack_int4(q), scale, zero, 128))
        else:
            layer.append((q * 15, torch.rand(n, device="cuda", generator=g) * 1e-3, None, 0))
    return layer


def products(layers, xs, ahead=None) -> list[list[torch.Tensor]]:
    out = []
    for i, layer in enumerate(layers):
        with ahead.layer(i) if ahead is not None else torch.no_grad():
            out.append(
                [prefill_linear(x, w, s, z, g, None, None, torch.bfloat16) for (w, s, z, g), x in zip(layer, xs)]
            )
    if ahead is not None:
        ahead.finish()
    return out


@pytest.mark.parametrize("shuffle", [False, True])
def test_layers_made_ahead_on_a_side_stream_give_the_same_products_bit_for_bit(shuffle):
    """``shuffle`` ($VLMQ_PREFILL_PREPARE=shuffle): with the CUTLASS library, gate/up's int4 weight is also made in
    the shuffled layout one layer ahead and its tile's twin reads it -- the same products."""
    from vlmq.engine.kernels.cutlass_gemm import unavailable_reason

    layers = [random_layer(seed) for seed in range(3)]
    g = torch.Generator(device="cuda").manual_seed(9)
    xs = [torch.randn(ROWS, k, device="cuda", generator=g).bfloat16() for _, _, k in SHAPES]
    work = work_ahead(layers, ROWS, torch.bfloat16, torch.device("cuda"), shuffle)
    assert all(len(items) >= 2 for items in work)  # q/k/v's copy and gate/up's copy or group terms, every layer
    shuffled = any(what == "shuffle" for items in work for *_, what in items)
    assert shuffled == (shuffle and unavailable_reason() is None)
    want = products(layers, xs)
    prep = SidePreparation(torch.device("cuda"), shuffle)
    plan = prep.plan(layers, ROWS, torch.bfloat16)
    got = products(layers, xs, prep.start(plan, torch.bfloat16))
    torch.cuda.synchronize()
    assert all(torch.equal(a, b) for gl, wl in zip(got, want) for a, b in zip(gl, wl))
    # the same from a CUDA graph (captured after a warm-up on a side stream, as the engine's prefill graphs are)
    graph, captured = capture_graph(lambda: products(layers, xs, prep.start(plan, torch.bfloat16)))
    for out in captured:
        for o in out:
            o.zero_()
    graph.replay()
    torch.cuda.synchronize()
    assert all(torch.equal(a, b) for gl, wl in zip(captured, want) for a, b in zip(gl, wl))


def answers_by_mode(recipe: str, modes: tuple[str, ...], monkeypatch) -> dict[str, tuple]:
    """Per ``$VLMQ_PREFILL_PREPARE`` mode: the toy's greedy answers through the compiled engine, six prompts a batch
    (a prefill of more than GEMV_MAX_M rows) three times (first call, graph capture, replay), its prefill note, and
    what its SidePreparation made (the scratch's kinds)."""
    from vlmq.engine import Engine
    from vlmq.models import load_model
    from vlmq.recipes import apply_recipe, engine_options, load_calibration, parse_recipe, prepare_engine
    from vlmq.tasks import TaskOptions, get_task

    task = get_task("shapes-vqa")
    prompts = [s.prompt for s in task.load(TaskOptions(limit=6, seed=0))[:6]]
    calib = load_calibration("builtin", n=8, languages=("en",), seed=0)
    spec = parse_recipe(recipe)
    loaded = load_model("toy", device="cuda")
    apply_recipe(loaded, spec, calib)
    out = {}
    for mode in modes:
        monkeypatch.setenv("VLMQ_PREFILL_PREPARE", mode)  # read as the compiled engine is built
        engine = Engine(loaded, **engine_options(spec), compile=True, max_batch_size=6)
        prepare_engine(engine, spec, calib)
        answers = [[g.text for g in engine.generate(prompts, task.max_new_tokens)] for _ in range(3)]
        made = engine.compiled.preparation.scratch if engine.compiled.preparation is not None else {}
        out[mode] = (answers, engine.compiled.path_notes()["prefill_gemm"], {what for _, what, *_ in made})
    return out


@pytest.mark.parametrize("recipe", ["int4_wo", "int8_wo"])
def test_compiled_engine_answers_the_same_with_the_weight_side_work_ahead(recipe, monkeypatch):
    """With and without the setting: the same greedy answers, the weights made ahead where it is on (the toy's four
    projections take the dequantize route), and the speed records' prefill note saying which ran."""
    runs = answers_by_mode(recipe, ("off", "side"), monkeypatch)
    assert "side stream" not in runs["off"][1] and "side stream" in runs["side"][1]
    assert runs["off"][2] == set() and runs["side"][2] == {"dequantize"}
    assert runs["side"][0] == runs["off"][0]
    assert all(a.strip() for a in runs["off"][0][0])


def test_compiled_engine_answers_the_same_with_shuffled_int4_weights(monkeypatch):
    """The toy's int4 projections sent to CUTLASS's tile 3 (the 7b gate/up's; the toy's shapes take the dequantize
    route by the tile table): the compiled engine's greedy answers with the weights made ahead in the shuffled layout
    (tile 3's twin reading them) equal those with the group terms alone made ahead and with nothing made ahead."""
    from vlmq.engine.kernels import prefill
    from vlmq.engine.kernels.cutlass_gemm import unavailable_reason
    from vlmq.engine.kernels.gemv import CutlassTile

    if unavailable_reason() is not None:
        pytest.skip(unavailable_reason())
    measured = prefill.measured_tile
    monkeypatch.setattr(
        prefill,
        "measured_tile",
        lambda kind, w, g, m: CutlassTile(3) if w.dtype == torch.int32 and m > 64 else measured(kind, w, g, m),
    )
    runs = answers_by_mode("int4_wo", ("off", "side", "shuffle"), monkeypatch)
    assert ["shuffled layout" in runs[mode][1] for mode in runs] == [False, False, True]
    assert [runs[mode][2] for mode in runs] == [set(), {"terms"}, {"shuffle"}]
    assert runs["shuffle"][0] == runs["side"][0] == runs["off"][0]
    assert all(a.strip() for a in runs["off"][0][0])
