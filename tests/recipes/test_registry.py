import dataclasses

import pytest
import torch

from vlmq.errors import VlmqError
from vlmq.recipes import (
    format_recipe_table,
    kernel_label,
    kv_switch,
    list_recipes,
    list_switches,
    parse_recipe,
    weight_recipe_name,
    with_kv_switch,
)
from vlmq.recipes.registry import DEVICE_CLASSES, RECIPES, runs_real
from vlmq.recipes.weight_only import Int4Options

REQUIRED = ("bf16", "int8_wo", "int4_wo", "smoothquant", "fp8", "int4_awq", "nvfp4")


def test_registry_holds_the_issue_recipes_with_their_formats():
    recipes = {r.name: r for r in list_recipes()}
    assert tuple(recipes) == REQUIRED
    assert [recipes[n].wxa for n in REQUIRED] == ["W16A16", "W8A16", "W4A16", "W8A8", "W8A8", "W4A16", "W4A4"]
    assert {n for n, r in recipes.items() if r.needs_calibration} == {"smoothquant", "int4_awq"}
    assert recipes["nvfp4"].real_on == ("sm100",)
    assert "sm90" in recipes["fp8"].real_on and "cpu" not in recipes["fp8"].real_on
    assert all(set(r.real_on) <= set(DEVICE_CLASSES) for r in recipes.values())


@pytest.mark.parametrize(
    "name, kv_dtype, strategy, fp8_attention",
    [
        ("fp8+kv_fp8", "fp8", "static", False),
        ("int4_awq+kv_fp8", "fp8", "static", False),
        ("fp8+kv_fp8+fp8_attention", "fp8", "static", True),
        ("bf16+kv_fp8_text", "fp8", "static_text_only", False),
        ("bf16+kv_fp8_head", "fp8", "per_head", False),
        ("bf16+kv_fp8_dyn", "fp8", "dynamic", False),
        ("bf16+kv_fp8_vis", "fp8", "visual_aware", False),
        ("int8_wo", "bf16", "static", False),
    ],
)
def test_switches_combine_and_the_name_is_kept_exactly(name, kv_dtype, strategy, fp8_attention):
    spec = parse_recipe(name)
    assert spec.name == name
    assert spec.recipe.name == name.split("+")[0]
    assert (spec.kv.dtype, spec.kv.strategy, spec.fp8_attention) == (kv_dtype, strategy, fp8_attention)


def test_options_change_what_the_recipe_says_it_is():
    assert parse_recipe("int4_wo").options == Int4Options(group_size=128, symmetric=False)
    spec = parse_recipe("int4_wo+group=64")
    assert spec.options.group_size == 64 and "g64" in spec.recipe.granularity
    assert "asymmetric" in spec.recipe.granularity
    sym = parse_recipe("int4_awq+sym")
    assert sym.options.symmetric and "symmetric" in sym.recipe.granularity and sym.linear_format.symmetric
    smooth = parse_recipe("smoothquant+alpha=0.8")
    assert smooth.options.alpha == 0.8 and "alpha 0.8" in smooth.recipe.granularity
    assert parse_recipe("smoothquant+smooth=all").options.smooth == "all"
    w4a8 = parse_recipe("nvfp4+act=fp8")
    assert (w4a8.options.act, w4a8.recipe.wxa, w4a8.recipe.real_on) == ("fp8", "W4A8", ())
    tensor = parse_recipe("fp8+gran=tensor")
    assert tensor.options.granularity == "tensor" and tensor.linear_format.activation_granularity == "tensor"
    assert parse_recipe("int8_wo+lm_head").include_lm_head
    assert parse_recipe("fp8+real").require_real


@pytest.mark.parametrize("entry", list(RECIPES.values()), ids=list(RECIPES))
def test_every_entry_is_self_contained(entry):
    """One place per recipe: frozen options whose defaults describe it, switches that set its own fields."""
    options = entry.options()
    assert dataclasses.is_dataclass(options) and entry.options.__dataclass_params__.frozen
    fields = {f.name for f in dataclasses.fields(options)}
    assert {option.field for option in entry.switches} <= fields
    recipe = entry.describe(options)
    assert recipe.name == entry.name and recipe == parse_recipe(entry.name).recipe
    fmt = entry.linear_format(options)
    assert (fmt is None) == (entry.name == "bf16")
    if fmt is not None:  # what the table says comes from the stored format, not from a name
        assert (recipe.weight, recipe.activation, recipe.real_on) == (fmt.weight, fmt.activation, fmt.real_on)


@pytest.mark.parametrize(
    "name, weight",
    [
        ("fp8+kv_fp8_text", "fp8"),
        ("fp8+kv_fp8+fp8_attention+gran=tensor", "fp8+gran=tensor"),
        ("int4_wo+keep=0:3+group=64", "int4_wo+group=64"),
        ("bf16+kv_fp8", None),
        ("int8_wo+lm_head", "int8_wo+lm_head"),
    ],
)
def test_weight_recipe_name_keeps_only_weight_choices(name, weight):
    assert weight_recipe_name(name) == weight


def test_kv_switch_helpers_replace_the_kv_part_in_place():
    assert kv_switch("fp8+kv_fp8_text+gran=tensor") == "kv_fp8_text" and kv_switch("fp8") is None
    assert with_kv_switch("fp8+kv_fp8+fp8_attention", "kv_fp8_vis") == "fp8+kv_fp8_vis+fp8_attention"
    assert with_kv_switch("int4_wo", "kv_fp8_head") == "int4_wo+kv_fp8_head"
    assert with_kv_switch("int4_wo+kv_fp8", None) == "int4_wo"
    with pytest.raises(VlmqError, match="unknown KV switch"):
        with_kv_switch("fp8", "kv_int4")


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("int3", "unknown recipe 'int3'; choose from: bf16, int8_wo"),
        ("fp8+kv_int4", "unknown switch 'kv_int4'; choose from: kv_fp8"),
        ("fp8+kv_fp8+kv_fp8_head", "two KV-cache switches"),
        ("int4_wo+group=48", "group=32|64|128|256"),
        ("int4_wo+group=abc", "bad value group='abc'"),
        ("smoothquant+alpha=1.5", "bad value alpha='1.5'; SmoothQuant"),
        ("fp8+group=64", "does not apply to 'fp8'"),
        ("nvfp4+act=int8", "choose from: nvfp4, fp8"),
        ("fp8+colour=red", "unknown option 'colour'"),
        ("fp8+sym", "does not apply to 'fp8'; it applies to int4_wo, int4_awq"),
        ("int4_wo+sym=1", "unknown option 'sym'"),
        ("smoothquant+smooth=some", "choose from: norms, all"),
    ],
)
def test_bad_names_give_one_line_errors_naming_the_fix(name, fragment):
    with pytest.raises(VlmqError) as err:
        parse_recipe(name)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_kernel_labels_per_device_class():
    fp8, nvfp4 = parse_recipe("fp8"), parse_recipe("nvfp4")
    assert [runs_real(fp8, c) for c in DEVICE_CLASSES] == [False, False, True, True, True]
    assert [runs_real(nvfp4, c) for c in DEVICE_CLASSES] == [False, False, False, False, True]
    assert not runs_real(parse_recipe("nvfp4+act=fp8"), "sm100")  # no W4A8 kernel anywhere
    assert not runs_real(parse_recipe("fp8+fp8_attention"), "sm90")  # FP8 FMHA is emulated
    assert runs_real(parse_recipe("int4_wo+kv_fp8"), "sm90")  # the FP8 cache really stores FP8
    cpu = torch.device("cpu")
    assert kernel_label(parse_recipe("int8_wo"), cpu) == "real"
    assert kernel_label(fp8, cpu) == "emulated"


def test_recipe_table_lists_every_recipe_and_switch():
    table = format_recipe_table()
    lines = table.splitlines()
    for recipe in list_recipes():
        row = next(line for line in lines if line.startswith(recipe.name + " "))
        assert recipe.wxa in row and ("yes" if recipe.needs_calibration else "no") in row
    for switch, _ in list_switches():
        assert switch in table
    assert "kv_fp8" in [s for s, _ in list_switches()]
    nvfp4_row = next(line for line in lines if line.startswith("nvfp4 "))
    assert nvfp4_row.split()[5:10] == ["emul", "emul", "emul", "emul", "real"]
