"""Mixed precision (``+keep=`` / ``+keep8=``): the listed layers or linear types stay out of the recipe."""

import pytest

from vlmq.engine.qlinear import format_label
from vlmq.errors import VlmqError
from vlmq.recipes import apply_recipe, list_switches, parse_recipe
from vlmq.recipes.registry import keep_option, parse_keep_items


def _formats_by_layer(model) -> dict[tuple[int, str], str]:
    from vlmq.models import decoder_layers

    out = {}
    for idx, layer in enumerate(decoder_layers(model)):
        for name, module in layer.named_modules():
            if name.endswith("_proj"):
                out[(idx, name.rsplit(".", 1)[-1])] = format_label(module)
    return out


@pytest.mark.parametrize(
    "text, layers, types",
    [
        ("0:3", (0, 3), ()),
        ("1-3", (1, 2, 3), ()),
        ("0,2", (0, 2), ()),
        ("down_proj:0", (0,), ("down_proj",)),
    ],
)
def test_keep_items_parse_to_layers_and_types(text, layers, types):
    assert parse_keep_items(text) == (layers, types)


def test_keep_option_round_trips_through_parse_recipe():
    name = f"int4_wo+{keep_option([3, 0])}"
    assert name == "int4_wo+keep=0:3" and "," not in name  # survives a comma-separated CLI list
    spec = parse_recipe(name)
    assert spec.keep_layers == (0, 3) and not spec.keep_8bit and "kept BF16" in spec.recipe.granularity
    assert parse_recipe("fp8+keep8=1").keep_8bit
    assert any(name.startswith("keep=") for name, _ in list_switches())


@pytest.mark.parametrize(
    "name, fix",
    [
        ("int4_wo+keep=x", "layer indices"),
        ("int4_wo+keep=3-1", "layer indices"),
        ("bf16+keep=0", "does not apply"),
        ("int4_wo+keep=0+keep8=1", "two keep switches"),
    ],
)
def test_bad_keep_switches_name_the_fix(name, fix):
    with pytest.raises(VlmqError, match=fix):
        parse_recipe(name)


def test_keep_leaves_the_listed_layer_in_bf16(tiny):
    summary = apply_recipe(tiny, parse_recipe("int8_wo+keep=0"), None)
    formats = _formats_by_layer(tiny.model)
    assert {f for (i, _), f in formats.items() if i == 0} == {"bfloat16"}
    assert {f for (i, _), f in formats.items() if i == 1} == {"int8/channel"}
    assert summary["keep"] == {"layers": [0], "types": [], "format": "bf16"}


def test_keep_type_and_keep8_store_kept_linears_in_int8(tiny):
    apply_recipe(tiny, parse_recipe("int4_wo+group=32+keep8=down_proj"), None)
    formats = _formats_by_layer(tiny.model)
    assert {f for (_, t), f in formats.items() if t == "down_proj"} == {"int8/channel"}
    assert "int8/channel" not in {f for (_, t), f in formats.items() if t != "down_proj"}


def test_keep_of_a_missing_layer_is_an_error(tiny):
    with pytest.raises(VlmqError, match="decoder has 2 layers"):
        apply_recipe(tiny, parse_recipe("int8_wo+keep=7"), None)
