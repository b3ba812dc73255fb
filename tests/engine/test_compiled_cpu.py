"""The compiled path's Python/dynamo side on CPU: the fused layer compiles with fullgraph (torch.compile works
on CPU, where the ops run their references; only the CUDA-graph capture is GPU-only) and gives the eager tokens."""

import copy

import pytest
import torch

from vlmq.engine import Engine, KVConfig, Prompt
from vlmq.engine.inputs import encode_prompts


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe, kv_dtype, combine",
    [
        ("bf16", "bf16", "attention"),
        ("bf16", "fp8", "attention"),
        ("int4_wo+group=32", "bf16", "attention"),
        ("fp8+gran=tensor", "fp8", "attention"),
        ("int4_wo+group=32", "fp8", "o_proj"),
    ],
)
def test_compiled_fused_layers_give_eager_tokens_on_cpu(tiny_fp32, images, recipe, kv_dtype, combine, monkeypatch):
    """Dynamo traces the fused layer (custom ops, packs as inputs) with fullgraph=True for prefill and decode,
    and the compiled layers give the eager tokens at batch 2 with left padding; also with the attention's combine
    in o_proj (``VLMQ_ATTENTION_COMBINE=o_proj``: vlmq::rope_kv_attention_o_proj in the traced layer)."""
    from vlmq.engine.compiled import FusedRunner
    from vlmq.recipes import apply_recipe, parse_recipe

    monkeypatch.setenv("VLMQ_ATTENTION_COMBINE", combine)

    loaded = copy.deepcopy(tiny_fp32)
    if recipe != "bf16":
        apply_recipe(loaded, parse_recipe(recipe), None)
    kv = KVConfig(dtype=kv_dtype, strategy="dynamic")
    prompts = [Prompt("What is in the image?", images[0]), Prompt("Hi", None)]
    reference = [g.token_ids for g in Engine(loaded, kv=kv, max_batch_size=2).generate(prompts, 4, ignore_eos=True)]
    engine = Engine(loaded, kv=kv, max_batch_size=2)
    engine.compiled = runner = FusedRunner(engine, compile=True)
    with torch.no_grad():
        tokens = [g.token_ids for g in engine.generate(prompts, 4, ignore_eos=True)]
    assert runner.prefill_note == "compiled"
    assert runner.label.endswith(", attention combined in o_proj") == (combine == "o_proj")
    assert tokens == reference


def test_vision_graph_body_matches_hf_vision_tower(tiny_fp32, images):
    """The body a vision CUDA graph captures (patch embedding, blocks with the keyword arguments HF passed
    them, cu_seqlens moved to the CPU, merger) computes HF's image features; run here without a graph."""
    from vlmq.engine.graphs import VisionGraphs
    from vlmq.engine.vision import image_features

    model = tiny_fp32.model
    batch = encode_prompts(tiny_fp32.processor, [Prompt("a", images[0]), Prompt("b", images[2])], "cpu")
    eager = lambda pixels, grid: image_features(model, pixels, grid)  # noqa: E731
    vision = VisionGraphs(model, eager)
    assert vision.note == "cuda-graph"
    with torch.no_grad():
        first = vision(batch.pixel_values, batch.image_grid_thw)  # eager, records the blocks' arguments
        ((key, (args, kwargs)),) = vision.block_args.items()
        assert key in vision.graphs.seen, "the second call of this geometry captures"
        body = vision.tower_body(batch.pixel_values.to(model.dtype), args, kwargs)
    reference = eager(batch.pixel_values, batch.image_grid_thw)
    assert body.shape == reference.shape == first.shape
    torch.testing.assert_close(body, reference)
    torch.testing.assert_close(first, reference)


def test_vision_graphs_remember_recent_grids_only(tiny_fp32, images):
    from vlmq.engine.graphs import VisionGraphs
    from vlmq.engine.vision import image_features

    model = tiny_fp32.model
    vision = VisionGraphs(model, lambda pixels, grid: image_features(model, pixels, grid), max_recorded=2)
    with torch.no_grad():
        for image in images:  # three different grids
            batch = encode_prompts(tiny_fp32.processor, [Prompt("a", image)], "cpu")
            vision(batch.pixel_values, batch.image_grid_thw)
    assert len(vision.block_args) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe, kv_dtype, row_max",
    [
        ("bf16", "bf16", "kernel"),
        ("int4_wo+group=32", "fp8", "kernel"),
        ("fp8", "bf16", "kernel"),
        ("fp8", "fp8", "gate_up"),
        ("fp8", "bf16", "forward"),
    ],
)
def test_compiled_decode_layer_is_five_ops_and_no_generated_kernel(tiny_bf16, recipe, kv_dtype, row_max, monkeypatch):
    """What Inductor makes of a fused decode layer (CPU here; the graph is the same on CUDA): four
    vlmq::fused_linear calls and one vlmq::rope_kv_decode_attention, nothing of its own between them (no
    copies of the split q/k/v views, of the cache or of the residual stream); the step's prologue
    (embedding + M-RoPE tables) is one kernel, the head one GEMV and nothing else (its logits stay in the model's
    dtype: no cast of the vocabulary), and the greedy advance the one vlmq::greedy_advance op, compiled by nobody.
    W8A8 with ``$VLMQ_W8A8_ROW_MAX=gate_up``: gate/up and down are one vlmq::fused_mlp, which writes the layer's
    row-maximum slots in place (no copy of them either); with ``forward``, o_proj, gate/up and down are each one
    vlmq::fused_linear_gather (q/k/v, past the first layer, reads the previous down_proj's maxima: the second layer
    is compiled here)."""
    import re

    from torch._inductor.utils import run_and_get_code

    from vlmq.engine.compiled import FusedRunner, StaticDecodeInputs
    from vlmq.engine.kernels.greedy import greedy_advance
    from vlmq.recipes import apply_recipe, parse_recipe

    monkeypatch.setenv("VLMQ_W8A8_ROW_MAX", row_max)
    loaded = copy.deepcopy(tiny_bf16)
    if recipe != "bf16":
        apply_recipe(loaded, parse_recipe(recipe), None)
    engine = Engine(loaded, kv=KVConfig(kv_dtype, "dynamic"), max_batch_size=2, max_seq_len=64)
    runner, d = FusedRunner(engine, compile=True), engine.decoder
    state = engine.synthetic_context(2, 10)
    state.key_valid[:, 10] = True
    s = StaticDecodeInputs(
        torch.tensor([3, 4]), state.next_pos, torch.tensor([10]), state.key_valid, torch.full((2, 1), 2)
    )

    def generated(fn, *args):
        with torch.no_grad():
            out, codes = run_and_get_code(fn, *args)
        code = "\n".join(codes)
        return (
            out,
            sorted(set(re.findall(r"\bcpp_fused_\w+|\btriton_\w+", code))),
            re.findall(r"= torch\.ops\.vlmq\.(\w+)\.default\(", code),
        )

    (x, cos, sin), prologue, _ = generated(
        runner.prologue, d.embed_tokens, d.inv_freq, tuple(d.section), s.token, s.pos
    )
    _, layer_kernels, layer_ops = generated(
        runner.decode_layer,
        runner.packs[1],
        x,
        cos,
        sin,
        s.slot,
        s.token_type,
        s.key_valid[:, None, None, :],
        engine.cache.layer(1),
        None,
        runner.decode_attend,
        True,
    )
    _, head_kernels, head_ops = generated(runner.head, runner.head_pack, x[:, -1])
    if row_max == "forward":
        assert runner.packs[1].forward is not None and runner.packs[1].forward.qkv_rows is not None
        assert sorted(layer_ops) == ["fused_linear"] + ["fused_linear_gather"] * 3 + ["rope_kv_decode_attention"]
        assert not layer_kernels, layer_kernels
    elif row_max == "gate_up":
        assert runner.packs[0].row_max is not None
        assert sorted(layer_ops) == ["fused_linear"] * 2 + ["fused_mlp", "rope_kv_decode_attention"], layer_ops
        assert not layer_kernels
    else:
        assert sorted(layer_ops) == ["fused_linear"] * 4 + ["rope_kv_decode_attention"] and not layer_kernels
    assert len(prologue) == 1 and head_ops == ["fused_linear"] and not head_kernels
    assert runner.advance is greedy_advance


def test_a_failing_compiled_prefill_falls_back_to_the_eager_layers(tiny_fp32, images):
    """A compile failure of the prefill layer is recorded and the prompt is prefilled again by the uncompiled
    layers, from the step as given (its boolean mask), with the eager engine's tokens."""
    from vlmq.engine.compiled import FusedRunner

    prompts = [Prompt("What is in the image?", images[0]), Prompt("Hi", None)]
    reference = [g.token_ids for g in Engine(tiny_fp32, max_batch_size=2).generate(prompts, 4, ignore_eos=True)]
    engine = Engine(tiny_fp32, max_batch_size=2)
    engine.compiled = runner = FusedRunner(engine, compile=False)
    runner.prefill_note = "compiled"  # as if compiled: the layer function below stands for the compiled one

    def failing_layer(*args):
        raise RuntimeError("inductor could not lower this")

    runner.prefill_layer = failing_layer
    with torch.no_grad():
        tokens = [g.token_ids for g in engine.generate(prompts, 4, ignore_eos=True)]
    assert runner.prefill_note.startswith("eager (compile failed: RuntimeError: inductor could not lower this")
    assert tokens == reference


@pytest.mark.parametrize(
    "recipe, note",
    [("bf16", None), ("int8_wo", "reference"), ("int4_wo+group=32", "reference"), ("fp8", "reference")],
)
def test_path_notes_say_how_quantized_prefill_gemms_run(tiny_fp32, recipe, note):
    """Speed records carry ``prefill_gemm`` for int8 / int4 weight-only and W8A8 models (CUTLASS's GEMMs, or the
    library path and why: here no CUDA device), and nothing for float ones."""
    from vlmq.engine.compiled import FusedRunner
    from vlmq.recipes import apply_recipe, parse_recipe

    loaded = copy.deepcopy(tiny_fp32)
    if recipe != "bf16":
        apply_recipe(loaded, parse_recipe(recipe), None)
    notes = FusedRunner(Engine(loaded, max_batch_size=1), compile=False).path_notes()
    if note is None:
        assert "prefill_gemm" not in notes
    else:
        assert notes["prefill_gemm"].startswith(note) and "no CUDA device" in notes["prefill_gemm"]
