"""Sensitivity ranks a deliberately damaged layer first, and the mixed recipe it proposes helps."""

import pytest
import torch

from vlmq.diagnose import SensitivityProbe, kl_divergence, propose_mixed_recipe
from vlmq.recipes import weight_recipe_name


def _damage(loaded, layer: int) -> None:
    """One large input column per linear: int8 per-row scales then flush the rest of each row."""
    from vlmq.models import decoder_layers

    with torch.no_grad():
        for name, module in decoder_layers(loaded.model)[layer].named_modules():
            if name.endswith("_proj"):
                module.weight[:, 0] = 2.0


@pytest.mark.parametrize("broken", [0, 1])
def test_the_damaged_layer_ranks_first_and_is_the_one_kept(tiny, prompts, broken):
    _damage(tiny, broken)
    rows = SensitivityProbe(tiny, prompts[:2]).measure("int8_wo")
    only = {r["layer"]: r for r in rows if r["mode"] == "quantize_only" and r["layer"] != ""}
    assert only[broken]["rank"] == 1 and only[1 - broken]["rank"] == 2
    assert only[broken]["kl_mean"] > 10 * max(only[1 - broken]["kl_mean"], 1e-9)
    kept = {r["layer"]: r for r in rows if r["mode"] == "keep_bf16"}
    assert kept[broken]["rank"] == 1  # keeping it removes the most KL
    proposal = propose_mixed_recipe(rows)
    assert proposal["name"] == f"int8_wo+keep={broken}" and proposal["layers"] == [broken]


def test_kl_is_zero_for_identical_logits_and_positive_otherwise():
    logits = torch.randn(3, 11)
    assert torch.allclose(kl_divergence(logits, logits), torch.zeros(3), atol=1e-6)
    shifted = logits.clone()
    shifted[:, 0] += 3
    assert bool((kl_divergence(logits, shifted) > 0).all())


@pytest.mark.parametrize(
    "name, weight",
    [
        ("fp8+kv_fp8_text", "fp8"),
        ("int4_wo+group=32+kv_fp8", "int4_wo+group=32"),
        ("fp8+kv_fp8+fp8_attention", "fp8"),
        ("int8_wo+keep=1", "int8_wo"),
        ("bf16+kv_fp8", None),
    ],
)
def test_weight_part_of_a_recipe_name(name, weight):
    assert weight_recipe_name(name) == weight
