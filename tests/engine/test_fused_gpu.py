"""The compiled decode step on the GPU: kernels per decoder layer inside the captured CUDA graph (issue 17), and
the fused step's logits against the eager engine's.

Run on the GPU machine: ``python -m pytest -q -s tests/engine/test_fused_gpu.py`` (``-s`` prints, per recipe,
the kernels of one decode step and how many each layer runs).
"""

import collections
import os
import sys

import pytest
import torch

from vlmq.engine import Engine, KVConfig

pytestmark = pytest.mark.gpu

MAX_KERNELS_PER_LAYER = 6
# Every recipe, W8A8 included, on the toy model: at batch 1 the CUDA-core GEMV quantizes W8A8 rows per token in
# its own prologue where the grid is small (the toy's shapes; gemv.row_kernel_first), so no row kernel runs
# (before, one ran ahead of each of the four GEMVs: 9 per layer on the H200, 2026-11-30). At 5+ rows, and on
# large grids (2b gate_up / down, every 7b shape), the row kernel still runs first (test_kernels_gpu.py).
MAX_STEP_KERNELS = 4  # embedding + M-RoPE tables (Inductor: one or two), final norm + lm_head (one GEMV, or two)
# vlmq::greedy_advance: one kernel (before, 2026-12-02: the logits cast to fp32 and Inductor's two-stage argmax and
# one kernel per updated buffer, 7 on the H200)
MAX_ADVANCE_KERNELS = 1
RECIPES = [
    "bf16",
    "int8_wo",
    "int4_wo",
    "int4_awq",
    "smoothquant",
    "fp8",
    "int8_wo+lm_head",
    "int4_wo+keep8=0",
    "bf16+kv_fp8",
    "bf16+kv_fp8_dyn",
    "fp8+kv_fp8_vis",
]


@pytest.fixture(scope="module")
def calib():
    from vlmq.recipes import load_calibration

    return load_calibration("builtin", n=8, languages=("en",), seed=0)


def cuda_kernels(fn) -> list[str]:
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return [
        e.name
        for e in prof.events()
        if e.device_type.name == "CUDA" and "Memset" not in e.name and "Memcpy" not in e.name
    ]


def engine_for(recipe: str, calib, batch: int = 2) -> Engine:
    from vlmq.models import load_model
    from vlmq.recipes import apply_recipe, engine_options, parse_recipe, prepare_engine

    spec = parse_recipe(recipe)
    loaded = load_model("toy", device="cuda")
    apply_recipe(loaded, spec, calib)
    engine = Engine(loaded, **engine_options(spec), compile=True, max_batch_size=batch, max_seq_len=256)
    prepare_engine(engine, spec, calib)
    return engine


@pytest.mark.parametrize("recipe", RECIPES)
def test_decode_step_runs_at_most_six_kernels_per_layer(recipe, calib):
    """One replay of the captured decode step at batch 1 (the latency case), profiled: its kernels minus those
    of the step's prologue and head (profiled on their own, outside the graph), per decoder layer."""
    batch = 1
    engine = engine_for(recipe, calib, batch)
    runner = engine.compiled
    with torch.no_grad():
        state = engine.synthetic_context(batch, 40)
        token = engine.decode_step(state, torch.zeros(batch, dtype=torch.long, device="cuda"))  # captures
        step = runner.graphs[batch]
        graph = cuda_kernels(step.graph.replay)
        d, s = engine.decoder, step.inputs
        x, _, _ = runner.prologue(d.embed_tokens, d.inv_freq, tuple(d.section), s.token, s.pos)
        outside = cuda_kernels(lambda: runner.prologue(d.embed_tokens, d.inv_freq, tuple(d.section), s.token, s.pos))
        outside += cuda_kernels(lambda: runner.head(runner.head_pack, x[:, -1]))
        greedy = cuda_kernels(
            lambda: runner.advance(step.logits, s.token, s.pos, s.slot, s.key_valid, s.history, s.finished, runner.eos)
        )
        outside += greedy
    per_layer = (len(graph) - len(outside)) / d.num_layers
    print(
        f"\n{recipe}: {runner.label}: {len(graph)} kernels a step, {per_layer:g} per layer; outside the layers:",
        ", ".join(outside),
    )
    for name, count in collections.Counter(graph).most_common():
        print(f"  {count:4d}  {name[:110]}")
    assert token.shape == (batch,)
    assert len(outside) - len(greedy) <= MAX_STEP_KERNELS, outside
    assert len(greedy) <= MAX_ADVANCE_KERNELS, greedy
    assert 4 <= per_layer <= MAX_KERNELS_PER_LAYER, f"{recipe}: {per_layer:g} kernels per layer"  # >= 4 GEMVs
    assert not any("normalize_rows" in name for name in graph), f"{recipe}: a row kernel ran at batch 1"


def recording(fn, seen: list):
    def wrapped(*args):
        out = fn(*args)
        seen.append(out.float().clone())
        return out

    return wrapped


@pytest.mark.parametrize("recipe", ["bf16", "int8_wo", "int4_wo", "smoothquant", "fp8"])
@pytest.mark.parametrize("kv_dtype", ["bf16", "fp8"])
def test_fused_decode_logits_match_eager(recipe, kv_dtype, calib):
    """Teacher-forced over the same synthetic context: the eager and the compiled step fed the same tokens
    give logits within a few percent of the row's largest |logit| (the kernels keep the norms and epilogues
    in fp32 where the modules round to bf16; W8A8 turns such a difference into a quantization step) and,
    where the eager top-2 margin exceeds twice that error, the same argmax."""
    check_decode_logits(recipe, kv_dtype, calib)


@pytest.mark.parametrize("recipe", ["bf16", "int8_wo", "int4_wo"])
def test_fused_decode_logits_match_eager_with_the_rmsnorm_deferred(recipe, calib, monkeypatch):
    """``$VLMQ_NORM_DEFER=qkv,gate_up,lm_head`` (read as the decode graphs are captured: set before the engine is
    built): the compiled step with every float row's RMSNorm on the sums still gives the eager step's logits within
    the same tolerance, and its argmax where the margin is clear."""
    from vlmq.engine.kernels.gemv import NORM_DEFER_ENV

    monkeypatch.setenv(NORM_DEFER_ENV, "qkv,gate_up,lm_head")
    check_decode_logits(recipe, "bf16", calib)


def check_decode_logits(recipe: str, kv_dtype: str, calib) -> None:
    """``test_fused_decode_logits_match_eager``'s check for one recipe and KV cache format."""
    batch, context = 2, 40
    compiled = engine_for(recipe, calib, batch)
    kv = KVConfig("fp8", "dynamic") if kv_dtype == "fp8" else KVConfig()
    compiled.set_kv(kv)
    eager = Engine(compiled.loaded, kv=kv, max_batch_size=batch, max_seq_len=256)
    ref, got = [], []
    eager.decoder.logits = recording(eager.decoder.logits, ref)
    compiled.compiled.decode = recording(compiled.compiled.decode, got)
    states = [e.synthetic_context(batch, context) for e in (eager, compiled)]
    token = torch.tensor([5, 17], device="cuda")
    with torch.no_grad():
        for _ in range(4):
            eager.decode_step(states[0], token)
            compiled.decode_step(states[1], token)
            token = ref[-1].argmax(-1)
    tol = 0.08 if recipe in ("smoothquant", "fp8") else 0.03
    errors = []
    for e, c in zip(ref, got, strict=True):
        scale = e.abs().amax(-1)
        errors.append(((e - c).abs().amax(-1) / scale).max().item())
        top = e.topk(2, -1).values
        clear = (top[:, 0] - top[:, 1]) > 2 * errors[-1] * scale
        assert torch.equal(e.argmax(-1)[clear], c.argmax(-1)[clear])
    print(f"\n{recipe} kv {kv_dtype} ({compiled.compiled.label}): logit errors per step {errors}")
    assert len(ref) == len(got) == 4 and max(errors) < tol


def test_greedy_advance_kernel_equals_the_reference_replayed_from_a_cuda_graph():
    """The one-kernel advance on the GPU, captured and replayed three times as the decode step is: every replay
    chooses torch.argmax's tokens (ties, NaN, -0 and -inf rows of ``special_logits``, bf16 as the lm_head writes them)
    and leaves the buffers the PyTorch reference leaves (so its counters are back at 0 after each replay)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pytest imports tests by path (importlib)
    from test_greedy_interpreter import special_logits

    from vlmq.engine.compiled import static_inputs
    from vlmq.engine.kernels.greedy import greedy_advance, greedy_advance_reference

    rows, vocab, length, replays = 16, 151936, 64, 3
    logits = special_logits(vocab, rows, torch.bfloat16, seed=3)
    logits[8:] = torch.randn(rows - 8, vocab, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    eos = torch.tensor([int(logits[0].float().argmax()), 7])
    ref = static_inputs(rows, length, torch.device("cpu"))
    got = static_inputs(rows, length, torch.device("cuda"))
    for s in (ref, got):
        s.slot.fill_(length - 2 * replays)
    start = [t.clone() for t in (got.token, got.pos, got.slot, got.key_valid, got.history, got.finished)]
    args = (logits.cuda(), got.token, got.pos, got.slot, got.key_valid, got.history, got.finished, eos.cuda())
    greedy_advance(*args)  # warm-up (Triton compiles), then the buffers go back to where they started
    for buffer, value in zip(args[1:7], start, strict=True):
        buffer.copy_(value)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        greedy_advance(*args)
    for _ in range(replays):
        graph.replay()
        greedy_advance_reference(logits, ref.token, ref.pos, ref.slot, ref.key_valid, ref.history, ref.finished, eos)
        torch.cuda.synchronize()
        assert got.token.cpu().tolist() == logits.float().argmax(-1).tolist()
        for mine, theirs in zip(args[1:7], (ref.token, ref.pos, ref.slot, ref.key_valid, ref.history, ref.finished)):
            assert torch.equal(mine.cpu(), theirs)


def test_prefill_layer_runs_fewer_kernels_than_summing_in_place(calib):
    """BF16 prefill, one compiled layer over a 120-token prompt: ``prefill_layer`` (the mask converted once, outside
    the layer; the residual pair summed in the next layer's norm kernel) against ``fused_layer`` composed as before
    (boolean mask converted inside, the layer's output summed by a kernel of its own): fewer kernels, same output."""
    from vlmq.engine.compiled import INDUCTOR_OPTIONS, fused_layer
    from vlmq.engine.decoder import additive_mask, attention_mask

    engine = engine_for("bf16", calib, batch=1)
    runner, d = engine.compiled, engine.decoder
    t, hidden = 120, d.embed_tokens.weight.shape[1]
    torch.manual_seed(0)
    x = torch.randn(1, t, hidden, device="cuda", dtype=torch.bfloat16)
    slots = torch.arange(t, device="cuda")
    key_valid = torch.zeros(1, engine.max_seq_len, dtype=torch.bool, device="cuda")
    key_valid[:, 7:t] = True  # left padding
    mask = attention_mask(key_valid, slots, t)
    cos, sin = d.rope_tables(slots.view(1, 1, t).expand(3, 1, t), x.dtype)
    token_type = torch.zeros(1, t, dtype=torch.long, device="cuda")
    packs, kv, attend = runner.packs[0], engine.cache.layer(0), runner.prefill_attend
    summed = torch.compile(fused_layer, fullgraph=True, options=dict(INDUCTOR_OPTIONS))
    add_mask, zeros = additive_mask(mask, x.dtype), torch.zeros_like(x)

    def old():
        return summed(packs, x, cos, sin, slots, token_type, mask, kv, t, attend, False)

    def new():
        return runner.prefill_layer(packs, x, zeros, cos, sin, slots, token_type, add_mask, kv, t, attend)

    with torch.no_grad():
        for _ in range(2):  # compile
            ref, (h, y) = old(), new()
        before, after = cuda_kernels(old), cuda_kernels(new)
    print(f"\nprefill layer kernels, summed in place: {len(before)}; residual pair: {len(after)}")
    for name in after:
        print(f"  {name[:110]}")
    torch.testing.assert_close((h.float() + y.float()), ref.float(), atol=0.05, rtol=0.02)
    assert len(after) < len(before), (before, after)


def test_dropped_decode_graphs_are_captured_again_under_a_new_launch_setting(calib, monkeypatch):
    """``CompiledRunner.drop_decode_graphs`` (bench_decode_ab.py's A/B): the next step captures a new graph, which
    launches under the PDL trigger set since, and greedy answers stay those of the first graph."""
    from vlmq.engine import Prompt

    engine = engine_for("int4_wo", calib, batch=1)
    prompt = [Prompt("What shape is this?", None)]
    monkeypatch.setenv("VLMQ_PDL_TRIGGER", "late")
    first = engine.generate(prompt, 8, ignore_eos=True)[0].text
    graph = engine.compiled.graphs[1].graph
    engine.compiled.drop_decode_graphs()
    assert not engine.compiled.graphs
    monkeypatch.setenv("VLMQ_PDL_TRIGGER", "early")
    again = engine.generate(prompt, 8, ignore_eos=True)[0].text
    assert engine.compiled.graphs[1].graph is not graph and again == first
