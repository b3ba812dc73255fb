"""The fused vision tower (vlmq.engine.vision.FusedVisionTower) on a CPU: HF's features and the eager engine's
greedy tokens; VisionGraphs' fallback to HF's blocks. Compiled + graphed on the GPU: test_attention_gpu.py."""

import copy

import pytest
import torch

from vlmq.engine import Engine, Prompt
from vlmq.engine.inputs import encode_prompts
from vlmq.engine.vision import FusedVisionTower, image_features, record_block_kwargs
from vlmq.models.layout import vision_tower


def hf_features_and_kwargs(loaded, images):
    model = loaded.model
    batch = encode_prompts(loaded.processor, [Prompt("a", im) for im in images], "cpu")
    eager = lambda pixels, grid: image_features(model, pixels, grid)
    with torch.no_grad():
        reference, (args, kwargs) = record_block_kwargs(
            vision_tower(model), eager, batch.pixel_values, batch.image_grid_thw
        )
    return batch, reference, args, kwargs


def test_fused_tower_gives_hf_features_for_images_of_different_grids(tiny_fp32, images):
    batch, reference, args, kwargs = hf_features_and_kwargs(tiny_fp32, images[:2])
    assert args == () and FusedVisionTower.covers(kwargs)
    assert len(kwargs["cu_seqlens"]) == 3, "two images: attention must stay within each image"
    with torch.no_grad():
        fused = FusedVisionTower(vision_tower(tiny_fp32.model), compile=False)(batch.pixel_values, kwargs)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-6)


def test_one_attention_over_both_images_would_differ(tiny_fp32, images):
    """The per-image split matters (so the previous test can fail): one sequence gives other features."""
    batch, reference, _, kwargs = hf_features_and_kwargs(tiny_fp32, images[:2])
    merged = {**kwargs, "cu_seqlens": kwargs["cu_seqlens"][[0, -1]]}
    with torch.no_grad():
        fused = FusedVisionTower(vision_tower(tiny_fp32.model), compile=False)(batch.pixel_values, merged)
    assert (fused - reference).abs().max() > 1e-3


def test_eager_engine_tokens_unchanged_with_the_fused_tower(tiny_fp32, images, monkeypatch):
    prompts = [Prompt("What is in the image?", images[0]), Prompt("Describe it.", images[2])]
    reference = Engine(copy.deepcopy(tiny_fp32), max_batch_size=2).generate(prompts, 6, ignore_eos=True)
    loaded = copy.deepcopy(tiny_fp32)
    tower = FusedVisionTower(vision_tower(loaded.model), compile=False)
    calls = []

    def fused_features(model, pixel_values, grid_thw):
        eager = lambda pixels, grid: image_features(model, pixels, grid)
        _, (_, kwargs) = record_block_kwargs(vision_tower(model), eager, pixel_values, grid_thw)
        calls.append(1)
        return tower(pixel_values, kwargs)

    monkeypatch.setattr("vlmq.engine.engine.image_features", fused_features)
    fused = Engine(loaded, max_batch_size=2).generate(prompts, 6, ignore_eos=True)
    assert calls and [g.token_ids for g in fused] == [g.token_ids for g in reference]


def test_vision_graphs_fall_back_to_hf_blocks_when_the_fused_forward_fails(tiny_fp32, images):
    from vlmq.engine.graphs import VisionGraphs

    batch, reference, args, kwargs = hf_features_and_kwargs(tiny_fp32, images[:1])
    model = tiny_fp32.model
    vision = VisionGraphs(model, lambda pixels, grid: image_features(model, pixels, grid))
    assert vision.body_note == "fused"

    def broken(pixels, block_kwargs):
        raise RuntimeError("no kernel for this shape")

    vision.fused = broken
    with torch.no_grad():
        out = vision.tower_body(batch.pixel_values, args, kwargs)
    assert vision.fused is None and vision.body_note.startswith("hf-blocks (fused failed: RuntimeError")
    torch.testing.assert_close(out, reference)


@pytest.mark.parametrize("extra", [{"attention_mask": None}, {"cu_seqlens": None}])
def test_fused_tower_declines_calls_it_does_not_reproduce(tiny_fp32, images, extra):
    _, _, _, kwargs = hf_features_and_kwargs(tiny_fp32, images[:1])
    assert not FusedVisionTower.covers({**kwargs, **extra})


def test_wide_row_choices_reduce_layernorm_rows_of_up_to_2048_values_in_one_pass(monkeypatch):
    """``WideRowChoices`` keeps Inductor's answer and adds inner reductions over a constant number of values up to
    WIDE_ROW_MAX (the vision tower's 1280 channels, which Inductor loops over past 1024); not a dynamic length, not
    an outer or cooperative reduction, not with persistent reductions switched off."""
    import sympy
    from torch._inductor import config
    from torch._inductor.choices import InductorChoices
    from torch._inductor.runtime.hints import ReductionHint

    from vlmq.engine.wide_rows import WIDE_ROW_MAX, WideRowChoices

    # Inductor's own rule reads the graph being compiled; here: rows of up to 1024 values, as its threshold says
    monkeypatch.setattr(InductorChoices, "should_use_persistent_reduction", staticmethod(lambda f, c: f.n <= 1024))

    class Features:
        def __init__(self, n, hint=ReductionHint.INNER):
            self.n, self.hint = n, hint
            self.reduction_numel = sympy.Integer(n) if isinstance(n, int) else n

        def get_reduction_hint(self):
            return self.hint

    choose = WideRowChoices.should_use_persistent_reduction
    assert choose(Features(512), False) and choose(Features(1280), False) and choose(Features(WIDE_ROW_MAX), False)
    assert not choose(Features(WIDE_ROW_MAX + 1), False)
    assert not choose(Features(1280, ReductionHint.OUTER), False) and not choose(Features(1280), True)
    dynamic = Features(4096)  # a length Inductor would loop over, unknown here
    dynamic.reduction_numel = sympy.Symbol("s0", positive=True)
    assert not choose(dynamic, False)
    with config.patch({"triton.persistent_reductions": False}):
        assert not choose(Features(1280), False)


def test_compiled_tower_reduces_layernorm_rows_in_one_pass_without_the_fx_graph_cache(tiny_fp32, monkeypatch):
    """The compiled tower takes ``WideRowChoices`` by default (measured faster on the H200) and compiles with the FX
    graph cache off, whose key does not see the choice; an eager tower (CPU) takes Inductor's own choices, and an
    explicit ``wide_rows=False`` keeps the cache."""
    from torch._inductor.virtualized import V

    from vlmq.engine.vision import inductor_choices
    from vlmq.engine.wide_rows import WideRowChoices

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: compiled.append(kw["options"]) or fn)
    tower = vision_tower(tiny_fp32.model)
    fused = FusedVisionTower(tower, compile=True)
    assert fused.wide_rows and [o.get("fx_graph_cache") for o in compiled] == [False, False]
    with inductor_choices(fused.wide_rows):
        assert isinstance(V.choices, WideRowChoices)
    assert not isinstance(V.choices, WideRowChoices)
    compiled.clear()
    looped = FusedVisionTower(tower, compile=True, wide_rows=False)
    assert not looped.wide_rows and all("fx_graph_cache" not in o for o in compiled)
    assert not FusedVisionTower(tower, compile=False).wide_rows
