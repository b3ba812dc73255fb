"""What each recipe is: the registry, the ``+`` switch grammar, and honest real/emulated labels.

Pure data and pure functions: nothing here touches a model. ``apply.py`` does the quantizing.

Name grammar: ``<recipe>[+<switch>]...`` where a switch is a flag (``kv_fp8``, ``fp8_attention``,
``lm_head``, ``real``) or one option ``key=value`` (``group=64``, ``alpha=0.8``, ``act=fp8``,
``gran=tensor``). Examples: ``fp8+kv_fp8``, ``int4_awq+kv_fp8``, ``fp8+kv_fp8+fp8_attention``,
``int4_wo+group=64``, ``nvfp4+act=fp8`` (W4A8, the original study's NVFP4 label).

Mixed precision: ``keep=<items>`` leaves the listed decoder layers (indices, ranges ``a-b``) or linear
types (``down_proj``, ...) in BF16; ``keep8=<items>`` stores them int8 weight-only instead. Items are
separated by ``:`` (a ``,`` also works in Python/TOML lists, but splits a CLI recipe list), e.g.
``int4_wo+keep=0:3``, ``fp8+keep8=0-1:down_proj``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from vlmq.engine.types import KVConfig
from vlmq.errors import VlmqError

DEVICE_CLASSES = ("cpu", "sm80", "sm89", "sm90", "sm100")
_ALL = DEVICE_CLASSES
INT4_GROUP_SIZES = (32, 64, 128, 256)  # what tinygemm and the CPU int4 kernel accept
_BITS = {"bf16": 16, "int8": 8, "fp8_e4m3": 8, "int4": 4, "nvfp4": 4}


@dataclass(frozen=True)
class Recipe:
    """One quantization scheme for the text decoder's linear layers (data only)."""

    name: str
    weight: str  # storage format of decoder linear weights
    activation: str  # format the activations reach the matmul in
    granularity: str
    needs_calibration: bool
    real_on: tuple[str, ...]  # device classes where real low-precision kernels run it
    description: str
    emulated_elsewhere: bool = False  # True: runs fake-quantized (labelled) where no real kernel exists

    @property
    def wxa(self) -> str:
        return f"W{_BITS[self.weight]}A{_BITS[self.activation]}"


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("bf16", "bf16", "bf16", "-", False, _ALL, "baseline: decoder unquantized"),
        Recipe("int8_wo", "int8", "bf16", "per-channel symmetric", False, _ALL,
               "int8 weight-only (torchao Int8WeightOnlyConfig)"),
        Recipe("int4_wo", "int4", "bf16", "per-group g128 asymmetric", False, _ALL,
               "int4 weight-only, group-wise (torchao tinygemm on CUDA, Int4OpaqueTensor on CPU)"),
        Recipe("smoothquant", "int8", "int8",
               "weight per-channel, activation per-token dynamic; smoothing alpha 0.5", True, _ALL,
               "SmoothQuant W8A8 (torchao SmoothQuantConfig over Int8DynamicActivationInt8WeightConfig)"),
        Recipe("fp8", "fp8_e4m3", "fp8_e4m3", "weight per-row, activation per-token dynamic", False,
               ("sm89", "sm90", "sm100"),
               "FP8 E4M3 W8A8 (torchao Float8DynamicActivationFloat8WeightConfig, PerRow); per-row by "
               "default because one outlier row or token then cannot crush the range of all others",
               emulated_elsewhere=True),
        Recipe("int4_awq", "int4", "bf16", "per-group g128 asymmetric + AWQ scales", True, _ALL,
               "AWQ activation-aware scale search then int4 g128 (torchao prototype AWQConfig)"),
        Recipe("nvfp4", "nvfp4", "nvfp4",
               "E2M1 values, E4M3 scale per 16-element block, FP32 global scale", False, ("sm100",),
               "NVFP4 W4A4 (torchao NVFP4DynamicActivationNVFP4WeightConfig on sm100+)",
               emulated_elsewhere=True),
    )
}

_KV_SWITCHES = {
    "kv_fp8": ("static", "FP8 KV cache, one per-tensor scale per layer calibrated on image+text prompts"),
    "kv_fp8_text": ("static_text_only", "FP8 KV cache, scales calibrated on text-only prompts "
                                        "(reproduces the original study's failure)"),
    "kv_fp8_head": ("per_head", "FP8 KV cache, one calibrated scale per layer and KV head"),
    "kv_fp8_dyn": ("dynamic", "FP8 KV cache, scales computed per token at run time"),
    "kv_fp8_vis": ("visual_aware", "FP8 KV cache, separate calibrated scales for visual and text tokens"),
}
_FLAG_SWITCHES = {
    "fp8_attention": "Q, K, V and attention probabilities through FP8 (emulated: no FP8 FMHA kernel here)",
    "lm_head": "also quantize lm_head with the recipe (default: lm_head stays BF16)",
    "real": "require real low-precision kernels; UnsupportedOnDevice where only emulation exists",
}
# option key -> (recipes it applies to, help)
_OPTIONS = {
    "group": (("int4_wo", "int4_awq"), "int4 group size: group=32|64|128|256 (default 128)"),
    "alpha": (("smoothquant",), "SmoothQuant migration strength in [0, 1], e.g. alpha=0.8 (default 0.5)"),
    "act": (("nvfp4",), "nvfp4 activations: act=nvfp4 (W4A4, default) or act=fp8 (W4A8, the study's label)"),
    "gran": (("fp8",), "fp8 scales: gran=row (default) or gran=tensor"),
    "keep": (tuple(r for r in RECIPES if r != "bf16"),
             "mixed precision: listed decoder layers/linear types stay BF16, e.g. keep=0:3 or keep=0-2:down_proj"),
    "keep8": (tuple(r for r in RECIPES if r not in ("bf16", "int8_wo")),
              "mixed precision: listed decoder layers/linear types are stored int8 weight-only, e.g. keep8=0:3"),
}
_OPTIONS["calib"] = (tuple(RECIPES), "calibration languages for this recipe (built-in set), e.g. calib=multi or "
                                     "calib=en:de:zh (default: --calib-languages); the study's INT4-AWQ ablation")
LINEAR_TYPES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_KEEP_SEPARATORS = (":", ",")


@dataclass(frozen=True)
class RecipeSpec:
    """A parsed recipe name such as ``fp8+kv_fp8+fp8_attention``; ``name`` is kept exactly as given."""

    name: str
    recipe: Recipe  # the base recipe with options folded in (granularity/activation text)
    kv: KVConfig
    fp8_attention: bool
    group_size: int | None = None  # int4 recipes
    alpha: float | None = None  # smoothquant
    act: str | None = None  # nvfp4: "nvfp4" | "fp8"
    fp8_granularity: str | None = None  # fp8: "row" | "tensor"
    include_lm_head: bool = False
    require_real: bool = False
    keep_layers: tuple[int, ...] = ()  # mixed precision: decoder layers left out of the recipe
    keep_types: tuple[str, ...] = ()  # mixed precision: linear types (q_proj, ..., down_proj) left out
    keep_8bit: bool = False  # kept linears stored int8 weight-only instead of BF16
    calib_languages: tuple[str, ...] | None = None  # calibration languages for this recipe (None: the run's)

    @property
    def keeps(self) -> bool:
        return bool(self.keep_layers or self.keep_types)


def list_recipes() -> list[Recipe]:
    return list(RECIPES.values())


def list_switches() -> list[tuple[str, str]]:
    """Every switch and option that can follow a recipe name with ``+``, with a one-line help."""
    kv = [(name, help_) for name, (_, help_) in _KV_SWITCHES.items()]
    flags = list(_FLAG_SWITCHES.items())
    options = [(f"{key}=<value>", help_) for key, (_, help_) in _OPTIONS.items()]
    return kv + flags + options


def parse_recipe(name: str) -> RecipeSpec:
    """Parse ``<recipe>[+switch]...``; a VlmqError names the valid choices for any unknown part."""
    base, *switches = [part.strip() for part in str(name).strip().split("+")]
    if base not in RECIPES:
        raise VlmqError(f"unknown recipe {base!r}; choose from: {', '.join(RECIPES)}")
    fields: dict = {"kv": KVConfig(), "fp8_attention": False, **_default_options(base)}
    for switch in switches:
        _apply_switch(fields, base, switch)
    recipe = _effective_recipe(RECIPES[base], fields)
    return RecipeSpec(name=name, recipe=recipe, **fields)


def _default_options(base: str) -> dict:
    return {
        "group_size": 128 if base in ("int4_wo", "int4_awq") else None,
        "alpha": 0.5 if base == "smoothquant" else None,
        "act": "nvfp4" if base == "nvfp4" else None,
        "fp8_granularity": "row" if base == "fp8" else None,
    }


def _apply_switch(fields: dict, base: str, switch: str) -> None:
    if switch in _KV_SWITCHES:
        if fields["kv"].dtype != "bf16":
            raise VlmqError(f"recipe has two KV-cache switches (second: {switch!r}); keep one")
        fields["kv"] = KVConfig(dtype="fp8", strategy=_KV_SWITCHES[switch][0])
    elif switch == "fp8_attention":
        fields["fp8_attention"] = True
    elif switch == "lm_head":
        fields["include_lm_head"] = True
    elif switch == "real":
        fields["require_real"] = True
    elif "=" in switch:
        _apply_option(fields, base, *switch.split("=", 1))
    else:
        valid = [s for s, _ in list_switches()]
        raise VlmqError(f"unknown switch {switch!r}; choose from: {', '.join(valid)}")


def _apply_option(fields: dict, base: str, key: str, value: str) -> None:
    if key not in _OPTIONS:
        raise VlmqError(f"unknown option {key!r}; choose from: {', '.join(k + '=' for k in _OPTIONS)}")
    recipes, help_ = _OPTIONS[key]
    if base not in recipes:
        raise VlmqError(f"option {key}= does not apply to {base!r}; it applies to {', '.join(recipes)}")
    if key == "group":
        fields["group_size"] = _parse_number(key, value, int, lambda g: g in INT4_GROUP_SIZES, help_)
    elif key == "alpha":
        fields["alpha"] = _parse_number(key, value, float, lambda a: 0.0 <= a <= 1.0, help_)
    elif key == "act":
        fields["act"] = _parse_choice(key, value, ("nvfp4", "fp8"))
    elif key in ("keep", "keep8"):
        if fields.get("keep_layers") or fields.get("keep_types"):
            raise VlmqError("recipe has two keep switches; use one keep= (BF16) or keep8= (int8) list")
        fields["keep_layers"], fields["keep_types"] = parse_keep_items(value)
        fields["keep_8bit"] = key == "keep8"
    elif key == "calib":
        fields["calib_languages"] = parse_calib_languages(value)
    else:
        fields["fp8_granularity"] = _parse_choice(key, value, ("row", "tensor"))


def parse_calib_languages(value: str) -> tuple[str, ...]:
    """``multi`` -> every built-in calibration language; ``en:de:zh`` -> those (checked)."""
    from .calibration import builtin_languages

    known = builtin_languages()
    languages = known if value == "multi" else tuple(v for v in value.split(":") if v)
    unknown = [lang for lang in languages if lang not in known]
    if not languages or unknown:
        raise VlmqError(f"calib={value!r}: choose 'multi' or languages from {':'.join(known)} joined by ':'")
    return languages


def parse_keep_items(value: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """``0:3``, ``0-2:down_proj`` -> ((0, 1, 2, 3), ()) / ((0, 1, 2), ("down_proj",))."""
    for sep in _KEEP_SEPARATORS[1:]:
        value = value.replace(sep, _KEEP_SEPARATORS[0])
    layers: set[int] = set()
    types: list[str] = []
    for item in (i.strip() for i in value.split(_KEEP_SEPARATORS[0])):
        if item in LINEAR_TYPES:
            types.append(item)
        elif item.isdigit():
            layers.add(int(item))
        elif _is_range(item):
            low, high = (int(p) for p in item.split("-"))
            layers.update(range(low, high + 1))
        else:
            raise VlmqError(f"bad keep item {item!r}; give layer indices, ranges a-b or linear types "
                            f"({', '.join(LINEAR_TYPES)}) separated by ':', e.g. keep=0:3")
    return tuple(sorted(layers)), tuple(dict.fromkeys(types))


def _is_range(item: str) -> bool:
    parts = item.split("-")
    return len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) <= int(parts[1])


def keep_option(layers, types=(), eight_bit: bool = False) -> str:
    """The ``+keep=...`` switch text for these layers/types (CLI-safe separators)."""
    items = [str(i) for i in sorted(layers)] + list(types)
    return f"{'keep8' if eight_bit else 'keep'}={':'.join(items)}" if items else ""


def _parse_number(key, value, kind, valid, help_):
    try:
        number = kind(value)
    except ValueError:
        number = None
    if number is None or not valid(number):
        raise VlmqError(f"bad value {key}={value!r}; {help_}")
    return number


def _parse_choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise VlmqError(f"bad value {key}={value!r}; choose from: {', '.join(choices)}")
    return value


def _effective_recipe(recipe: Recipe, fields: dict) -> Recipe:
    """Fold options into the descriptive fields so records describe exactly what ran."""
    if fields["group_size"] is not None:
        granularity = recipe.granularity.replace("g128", f"g{fields['group_size']}")
        recipe = dataclasses.replace(recipe, granularity=granularity)
    if fields["alpha"] is not None:
        recipe = dataclasses.replace(recipe, granularity=recipe.granularity.replace("0.5", f"{fields['alpha']:g}"))
    if fields["act"] == "fp8":  # W4A8: no kernel for it in torchao on any device
        recipe = dataclasses.replace(recipe, activation="fp8_e4m3", real_on=(),
                                     description="NVFP4 weights, FP8 per-token activations (W4A8), emulated")
    if fields["fp8_granularity"] == "tensor":
        recipe = dataclasses.replace(recipe, granularity="weight per-tensor, activation per-tensor dynamic")
    if fields.get("keep_layers") or fields.get("keep_types"):
        kept = [f"layer {i}" for i in fields["keep_layers"]] + list(fields["keep_types"])
        fmt = "int8 weight-only" if fields["keep_8bit"] else "BF16"
        recipe = dataclasses.replace(recipe, granularity=f"{recipe.granularity}; kept {fmt}: {', '.join(kept)}")
    return recipe


def device_class(device: torch.device | str) -> str:
    """``cpu`` or the CUDA capability class: sm80 (A100), sm89 (Ada), sm90 (H100), sm100 (Blackwell, incl. sm120)."""
    device = torch.device(device)
    if device.type != "cuda":
        return "cpu"
    major, minor = torch.cuda.get_device_capability(device)
    if major >= 10:
        return "sm100"
    if major == 9:
        return "sm90"
    if (major, minor) >= (8, 9):
        return "sm89"
    return "sm80" if major == 8 else f"sm{major}{minor}"


def runs_real(spec: RecipeSpec, dev_class: str) -> bool:
    """True when every quantized op of the spec runs on real low-precision kernels on ``dev_class``."""
    return dev_class in spec.recipe.real_on and not spec.fp8_attention


def kernel_label(spec: RecipeSpec, device: torch.device | str) -> str:
    """``"real"`` or ``"emulated"`` (fake-quantized: accuracy only, never a speed figure)."""
    return "real" if runs_real(spec, device_class(device)) else "emulated"


def format_recipe_table() -> str:
    """The text ``vlmq recipes`` prints: one line per recipe, then the switches."""
    head = f"{'recipe':<12} {'WxA':<6} {'weight':<9} {'act':<9} {'calib':<5} " + " ".join(
        f"{c:<6}" for c in DEVICE_CLASSES) + "  granularity"
    lines = [head]
    for r in RECIPES.values():
        cells = " ".join(f"{_device_cell(r, c):<6}" for c in DEVICE_CLASSES)
        calib = "yes" if r.needs_calibration else "no"
        lines.append(f"{r.name:<12} {r.wxa:<6} {r.weight:<9} {r.activation:<9} {calib:<5} {cells}  {r.granularity}")
    lines.append("")
    lines.append("switches (combine with +, e.g. fp8+kv_fp8+fp8_attention):")
    lines.extend(f"  {name:<16} {help_}" for name, help_ in list_switches())
    return "\n".join(lines)


def _device_cell(recipe: Recipe, dev_class: str) -> str:
    if dev_class in recipe.real_on:
        return "real"
    return "emul" if recipe.emulated_elsewhere else "-"
