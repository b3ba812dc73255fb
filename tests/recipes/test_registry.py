import pytest
import torch

from vlmq.errors import VlmqError
from vlmq.recipes import (
    format_recipe_table,
    kernel_label,
    list_recipes,
    list_switches,
    parse_recipe,
)
from vlmq.recipes.registry import DEVICE_CLASSES, runs_real

REQUIRED = ("bf16", "int8_wo", "int4_wo", "smoothquant", "fp8", "int4_awq", "nvfp4")


def test_registry_holds_the_issue_recipes_with_their_formats():
    recipes = {r.name: r for r in list_recipes()}
    assert tuple(recipes) == REQUIRED
    assert [recipes[n].wxa for n in REQUIRED] == ["W16A16", "W8A16", "W4A16", "W8A8", "W8A8", "W4A16", "W4A4"]
    assert {n for n, r in recipes.items() if r.needs_calibration} == {"smoothquant", "int4_awq"}
    assert recipes["nvfp4"].real_on == ("sm100",)
    assert "sm90" in recipes["fp8"].real_on and "cpu" not in recipes["fp8"].real_on
    assert all(set(r.real_on) <= set(DEVICE_CLASSES) for r in recipes.values())


@pytest.mark.parametrize("name, kv_dtype, strategy, fp8_attention", [
    ("fp8+kv_fp8", "fp8", "static", False),
    ("int4_awq+kv_fp8", "fp8", "static", False),
    ("fp8+kv_fp8+fp8_attention", "fp8", "static", True),
    ("bf16+kv_fp8_text", "fp8", "static_text_only", False),
    ("bf16+kv_fp8_head", "fp8", "per_head", False),
    ("bf16+kv_fp8_dyn", "fp8", "dynamic", False),
    ("bf16+kv_fp8_vis", "fp8", "visual_aware", False),
    ("int8_wo", "bf16", "static", False),
])
def test_switches_combine_and_the_name_is_kept_exactly(name, kv_dtype, strategy, fp8_attention):
    spec = parse_recipe(name)
    assert spec.name == name
    assert spec.recipe.name == name.split("+")[0]
    assert (spec.kv.dtype, spec.kv.strategy, spec.fp8_attention) == (kv_dtype, strategy, fp8_attention)


def test_options_change_what_the_recipe_says_it_is():
    assert parse_recipe("int4_wo").group_size == 128
    spec = parse_recipe("int4_wo+group=64")
    assert spec.group_size == 64 and "g64" in spec.recipe.granularity
    smooth = parse_recipe("smoothquant+alpha=0.8")
    assert smooth.alpha == 0.8 and "alpha 0.8" in smooth.recipe.granularity
    w4a8 = parse_recipe("nvfp4+act=fp8")
    assert (w4a8.act, w4a8.recipe.wxa, w4a8.recipe.real_on) == ("fp8", "W4A8", ())
    assert parse_recipe("fp8+gran=tensor").fp8_granularity == "tensor"
    assert parse_recipe("int8_wo+lm_head").include_lm_head
    assert parse_recipe("fp8+real").require_real


@pytest.mark.parametrize("name, fragment", [
    ("int3", "unknown recipe 'int3'; choose from: bf16, int8_wo"),
    ("fp8+kv_int4", "unknown switch 'kv_int4'; choose from: kv_fp8"),
    ("fp8+kv_fp8+kv_fp8_head", "two KV-cache switches"),
    ("int4_wo+group=48", "group=32|64|128|256"),
    ("int4_wo+group=abc", "bad value group='abc'"),
    ("smoothquant+alpha=1.5", "bad value alpha='1.5'; SmoothQuant"),
    ("fp8+group=64", "does not apply to 'fp8'"),
    ("nvfp4+act=int8", "choose from: nvfp4, fp8"),
    ("fp8+colour=red", "unknown option 'colour'"),
])
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
