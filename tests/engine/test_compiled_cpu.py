"""The compiled path's Python/dynamo side on CPU: the fused layer compiles with fullgraph (torch.compile works
on CPU, where the ops run their references; only the CUDA-graph capture is GPU-only) and gives the eager tokens."""

import copy

import pytest
import torch

from vlmq.engine import Engine, KVConfig, Prompt
from vlmq.engine.inputs import encode_prompts


@pytest.mark.slow
@pytest.mark.parametrize("recipe, kv_dtype", [("bf16", "bf16"), ("bf16", "fp8"), ("int4_wo+group=32", "bf16"),
                                              ("fp8+gran=tensor", "fp8")])
def test_compiled_fused_layers_give_eager_tokens_on_cpu(tiny_fp32, images, recipe, kv_dtype):
    """Dynamo traces the fused layer (custom ops, packs as inputs) with fullgraph=True for prefill and decode,
    and the compiled layers give the eager tokens at batch 2 with left padding."""
    from vlmq.engine.compiled import FusedRunner
    from vlmq.recipes import apply_recipe, parse_recipe

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
    assert tokens == reference


def test_vision_graph_body_matches_hf_vision_tower(tiny_fp32, images):
    """The body a vision CUDA graph captures (patch embedding, blocks with the keyword arguments HF passed
    them, cu_seqlens moved to the CPU, merger) computes HF's image features; run here without a graph."""
    from vlmq.engine.vision import image_features
    from vlmq.engine.graphs import VisionGraphs

    model = tiny_fp32.model
    batch = encode_prompts(tiny_fp32.processor, [Prompt("a", images[0]), Prompt("b", images[2])], "cpu")
    eager = lambda pixels, grid: image_features(model, pixels, grid)   # noqa: E731
    vision = VisionGraphs(model, eager)
    assert vision.note == "cuda-graph"
    with torch.no_grad():
        first = vision(batch.pixel_values, batch.image_grid_thw)      # eager, records the blocks' arguments
        (key, (args, kwargs)), = vision.block_args.items()
        assert key in vision.graphs.seen, "the second call of this geometry captures"
        body = vision._tower(batch.pixel_values.to(model.dtype), args, kwargs)
    reference = eager(batch.pixel_values, batch.image_grid_thw)
    assert body.shape == reference.shape == first.shape
    torch.testing.assert_close(body, reference)
    torch.testing.assert_close(first, reference)


def test_vision_graphs_remember_recent_grids_only(tiny_fp32, images):
    from vlmq.engine.vision import image_features
    from vlmq.engine.graphs import VisionGraphs

    model = tiny_fp32.model
    vision = VisionGraphs(model, lambda pixels, grid: image_features(model, pixels, grid), max_recorded=2)
    with torch.no_grad():
        for image in images:                 # three different grids
            batch = encode_prompts(tiny_fp32.processor, [Prompt("a", image)], "cpu")
            vision(batch.pixel_values, batch.image_grid_thw)
    assert len(vision.block_args) == 2
