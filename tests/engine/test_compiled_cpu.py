"""The compiled decode step's Python/dynamo side on CPU: the layer function compiles with fullgraph
(torch.compile works on CPU; only the CUDA-graph capture is GPU-only) and gives the eager tokens."""

import copy
from unittest import mock

import pytest
import torch

from vlmq.engine import Engine, KVConfig, Prompt
from vlmq.engine.inputs import encode_prompts
from vlmq.engine.timing import Stopwatch
from vlmq.engine.types import GENERATED


@pytest.mark.slow
@pytest.mark.parametrize("kv_dtype", ["bf16", "fp8"])
def test_compiled_layers_give_eager_tokens_on_cpu(tiny_fp32, images, kv_dtype):
    from vlmq.engine.compiled import CompiledRunner, StaticDecodeInputs

    loaded = copy.deepcopy(tiny_fp32)
    kv = KVConfig(dtype=kv_dtype, strategy="dynamic")
    prompts = [Prompt("What is in the image?", images[0])]
    reference = Engine(loaded, kv=kv).generate(prompts, 4, ignore_eos=True)[0].token_ids
    engine = Engine(loaded, kv=kv)
    with mock.patch("torch.cuda.graph_pool_handle", lambda: None):
        engine.compiled = runner = CompiledRunner(engine)
    assert runner.label == "fused-bf16"
    with torch.no_grad():
        state = engine._prefill(encode_prompts(engine.processor, prompts, engine.device), Stopwatch(engine.device))
        assert runner.prefill_note == "compiled"
        token = state.logits.argmax(-1)
        tokens = [int(token)]
        for _ in range(3):       # what one CUDA-graph replay runs, called directly
            state.key_valid[:, state.next_slot] = True
            inputs = StaticDecodeInputs(token=token, pos=state.next_pos, slot=torch.tensor([state.next_slot]),
                                        key_valid=state.key_valid, token_type=torch.full((1, 1), GENERATED))
            token = runner._decode_body(inputs).argmax(-1)
            tokens.append(int(token))
            state.next_pos, state.next_slot = state.next_pos + 1, state.next_slot + 1
    assert tokens == reference
    assert runner.path_notes() == {"vision_path": "cuda-graph", "prefill_path": "compiled, cuda-graph",
                                   "decode_path": "cuda-graph, fused-bf16"}


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
