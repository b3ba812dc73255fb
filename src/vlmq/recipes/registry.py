"""The recipe registry and the ``+`` name grammar (parsed here and nowhere else); honest real/emulated labels.

Each recipe is one ``RecipeEntry`` (entry.py) defined next to its apply function (weight_only.py,
smoothquant.py, fp8.py, awq.py, nvfp4.py): its options as a frozen dataclass, the ``+key=value``
switches that set them, its description and what it stores. This module collects the entries, parses
names into ``RecipeSpec`` and answers questions about names (their weight part, their KV switch).

Name grammar: ``<recipe>[+<switch>]...`` where a switch is
- a KV-cache switch (``kv_fp8``, ``kv_fp8_text``, ``kv_fp8_head``, ``kv_fp8_dyn``, ``kv_fp8_vis``; at most one),
- a flag for every recipe (``fp8_attention``, ``lm_head``, ``real``),
- an option for every recipe (``keep=``, ``keep8=``, ``calib=``), or
- one of the recipe's own options (``group=64``, ``sym``, ``alpha=0.8``, ``smooth=all``, ``act=fp8``, ``gran=tensor``).
Examples: ``fp8+kv_fp8``, ``int4_awq+kv_fp8``, ``fp8+kv_fp8+fp8_attention``, ``int4_wo+group=64+sym``,
``nvfp4+act=fp8`` (W4A8, the original study's NVFP4 label).

Mixed precision: ``keep=<items>`` leaves the listed decoder layers (indices, ranges ``a-b``) or linear
types (``down_proj``, ...) in BF16; ``keep8=<items>`` stores them int8 weight-only instead. Items are
separated by ``:`` (a ``,`` also works in Python/TOML lists, but splits a CLI recipe list), e.g.
``int4_wo+keep=0:3``, ``fp8+keep8=0-1:down_proj``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from vlmq.device import device_class
from vlmq.engine.qformat import DEVICE_CLASSES, LinearFormat
from vlmq.engine.types import KVConfig
from vlmq.errors import VlmqError

from .awq import INT4_AWQ
from .entry import Option, Recipe, RecipeEntry
from .fp8 import FP8
from .nvfp4 import NVFP4
from .smoothquant import SMOOTHQUANT
from .weight_only import BF16, INT4_WO, INT8_FORMAT, INT8_WO

RECIPES: dict[str, RecipeEntry] = {e.name: e for e in (BF16, INT8_WO, INT4_WO, SMOOTHQUANT, FP8, INT4_AWQ, NVFP4)}

KV_SWITCHES = {
    "kv_fp8": ("static", "FP8 KV cache, one per-tensor scale per layer calibrated on image+text prompts"),
    "kv_fp8_text": (
        "static_text_only",
        "FP8 KV cache, scales calibrated on text-only prompts (reproduces the original study's failure)",
    ),
    "kv_fp8_head": ("per_head", "FP8 KV cache, one calibrated scale per layer and KV head"),
    "kv_fp8_dyn": ("dynamic", "FP8 KV cache, scales computed per token at run time"),
    "kv_fp8_vis": ("visual_aware", "FP8 KV cache, separate calibrated scales for visual and text tokens"),
}
_FLAG_SWITCHES = {
    "fp8_attention": (
        "fp8_attention",
        "Q, K, V and attention probabilities through FP8 (emulated: no FP8 FMHA kernel here)",
    ),
    "lm_head": ("include_lm_head", "also quantize lm_head with the recipe (default: lm_head stays BF16)"),
    "real": ("require_real", "require real low-precision kernels; UnsupportedOnDevice where only emulation exists"),
}
LINEAR_TYPES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_KEEP_SEPARATORS = (":", ",")
_WEIGHTLESS_SWITCHES = ("fp8_attention",)  # switches of a name that choose no weight format (besides KV)


@dataclass(frozen=True)
class RecipeSpec:
    """A parsed recipe name such as ``fp8+kv_fp8+fp8_attention``; ``name`` is kept exactly as given."""

    name: str
    recipe: Recipe  # what the recipe is with its options (records carry this description)
    options: Any  # the recipe's own options (its entry's frozen dataclass)
    kv: KVConfig = KVConfig()
    fp8_attention: bool = False
    include_lm_head: bool = False
    require_real: bool = False
    keep_layers: tuple[int, ...] = ()  # mixed precision: decoder layers left out of the recipe
    keep_types: tuple[str, ...] = ()  # mixed precision: linear types (q_proj, ..., down_proj) left out
    keep_8bit: bool = False  # kept linears stored int8 weight-only instead of BF16
    calib_languages: tuple[str, ...] | None = None  # calibration languages for this recipe (None: the run's)

    @property
    def keeps(self) -> bool:
        return bool(self.keep_layers or self.keep_types)

    @property
    def entry(self) -> RecipeEntry:
        return RECIPES[self.recipe.name]

    @property
    def linear_format(self) -> LinearFormat | None:
        """The format the recipe stores its target linears in (None: they stay float)."""
        return self.entry.linear_format(self.options)

    @property
    def kv_needs_calibration(self) -> bool:
        """True when the engine's FP8 KV cache needs scales calibrated on prompts (``prepare_engine``)."""
        return self.kv.dtype == "fp8" and self.kv.strategy != "dynamic"


# ----- the common options (every recipe) ------------------------------------------------------------
def _quantizes(entry: RecipeEntry) -> bool:
    return entry.linear_format(entry.options()) is not None


def _int8_weight_only(entry: RecipeEntry) -> bool:
    return entry.linear_format(entry.options()) == INT8_FORMAT


def _common_options() -> dict[str, tuple[tuple[str, ...], str]]:
    """option key -> (recipes it applies to, help)"""
    quantizing = tuple(n for n, e in RECIPES.items() if _quantizes(e))
    return {
        "keep": (
            quantizing,
            "mixed precision: listed decoder layers/linear types stay BF16, e.g. keep=0:3 or keep=0-2:down_proj",
        ),
        "keep8": (
            tuple(n for n in quantizing if not _int8_weight_only(RECIPES[n])),
            "mixed precision: listed decoder layers/linear types are stored int8 weight-only, e.g. keep8=0:3",
        ),
        "calib": (
            tuple(RECIPES),
            "calibration languages for this recipe (built-in set), e.g. calib=multi or "
            "calib=en:de:zh (default: --calib-languages); the study's INT4-AWQ ablation",
        ),
    }


def _recipe_options() -> dict[str, tuple[Option, tuple[str, ...]]]:
    """switch key -> (its Option, the recipes that have it), over every entry's own switches."""
    found: dict[str, tuple[Option, tuple[str, ...]]] = {}
    for name, entry in RECIPES.items():
        for option in entry.switches:
            first, names = found.get(option.key, (option, ()))
            found[option.key] = (first, (*names, name))
    return found


def list_recipes() -> list[Recipe]:
    """Every registered recipe, described with its default options."""
    return [entry.describe(entry.options()) for entry in RECIPES.values()]


def list_switches() -> list[tuple[str, str]]:
    """Every switch and option that can follow a recipe name with ``+``, with a one-line help."""
    kv = [(name, help_) for name, (_, help_) in KV_SWITCHES.items()]
    flags = [(name, help_) for name, (_, help_) in _FLAG_SWITCHES.items()]
    own = [(option.switch, option.help) for option, _ in _recipe_options().values()]
    common = [(f"{key}=<value>", help_) for key, (_, help_) in _common_options().items()]
    return kv + flags + own + common


# ----- parsing ---------------------------------------------------------------------------------------
def split_recipe_name(name: str) -> tuple[str, tuple[str, ...]]:
    """``fp8+kv_fp8+gran=tensor`` -> ("fp8", ("kv_fp8", "gran=tensor")) (no validation)."""
    base, *switches = [part.strip() for part in str(name).strip().split("+")]
    return base, tuple(switches)


def join_recipe_name(base: str, switches) -> str:
    return "+".join([base, *switches])


def parse_recipe(name: str) -> RecipeSpec:
    """Parse ``<recipe>[+switch]...``; a VlmqError names the valid choices for any unknown part."""
    base, switches = split_recipe_name(name)
    if base not in RECIPES:
        raise VlmqError(f"unknown recipe {base!r}; choose from: {', '.join(RECIPES)}")
    entry = RECIPES[base]
    fields: dict = {}
    own: dict = {}
    for switch in switches:
        _apply_switch(fields, own, base, switch)
    options = entry.options(**own)
    return RecipeSpec(name=name, recipe=_described(entry, options, fields), options=options, **fields)


def _apply_switch(fields: dict, own: dict, base: str, switch: str) -> None:
    key, has_value, value = switch.partition("=")
    recipe_options = _recipe_options()
    if switch in KV_SWITCHES:
        if "kv" in fields:
            raise VlmqError(f"recipe has two KV-cache switches (second: {switch!r}); keep one")
        fields["kv"] = KVConfig(dtype="fp8", strategy=KV_SWITCHES[switch][0])
    elif switch in _FLAG_SWITCHES:
        fields[_FLAG_SWITCHES[switch][0]] = True
    elif key in recipe_options and bool(has_value) != recipe_options[key][0].is_flag:
        option, recipes = recipe_options[key]
        if base not in recipes:
            raise VlmqError(
                f"option {option.switch.split('=')[0]}{'=' if has_value else ''} does not apply to "
                f"{base!r}; it applies to {', '.join(recipes)}"
            )
        own[option.field] = option.flag if option.is_flag else option.parse(value)
    elif has_value:
        _apply_common_option(fields, base, key, value)
    else:
        valid = [s for s, _ in list_switches()]
        raise VlmqError(f"unknown switch {switch!r}; choose from: {', '.join(valid)}")


def _apply_common_option(fields: dict, base: str, key: str, value: str) -> None:
    common = _common_options()
    if key not in common:
        keys = [k for k, (o, _) in _recipe_options().items() if not o.is_flag] + list(common)
        raise VlmqError(f"unknown option {key!r}; choose from: {', '.join(k + '=' for k in keys)}")
    recipes, _ = common[key]
    if base not in recipes:
        raise VlmqError(f"option {key}= does not apply to {base!r}; it applies to {', '.join(recipes)}")
    if key == "calib":
        fields["calib_languages"] = parse_calib_languages(value)
        return
    if fields.get("keep_layers") or fields.get("keep_types"):
        raise VlmqError("recipe has two keep switches; use one keep= (BF16) or keep8= (int8) list")
    fields["keep_layers"], fields["keep_types"] = parse_keep_items(value)
    fields["keep_8bit"] = key == "keep8"


def _described(entry: RecipeEntry, options, fields: dict) -> Recipe:
    """The recipe's description with its options, plus what a keep list leaves out (records describe what ran)."""
    recipe = entry.describe(options)
    layers, types = fields.get("keep_layers", ()), fields.get("keep_types", ())
    if layers or types:
        kept = [f"layer {i}" for i in layers] + list(types)
        fmt = "int8 weight-only" if fields.get("keep_8bit") else "BF16"
        recipe = dataclasses.replace(recipe, granularity=f"{recipe.granularity}; kept {fmt}: {', '.join(kept)}")
    return recipe


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
            raise VlmqError(
                f"bad keep item {item!r}; give layer indices, ranges a-b or linear types "
                f"({', '.join(LINEAR_TYPES)}) separated by ':', e.g. keep=0:3"
            )
    return tuple(sorted(layers)), tuple(dict.fromkeys(types))


def _is_range(item: str) -> bool:
    parts = item.split("-")
    return len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) <= int(parts[1])


def keep_option(layers, types=(), eight_bit: bool = False) -> str:
    """The ``+keep=...`` switch text for these layers/types (CLI-safe separators)."""
    items = [str(i) for i in sorted(layers)] + list(types)
    return f"{'keep8' if eight_bit else 'keep'}={':'.join(items)}" if items else ""


# ----- questions about names (other modules ask these instead of splitting names) --------------------
def kv_switch(name: str) -> str | None:
    """The KV-cache switch of a recipe name (``fp8+kv_fp8_text`` -> ``kv_fp8_text``), or None."""
    return next((s for s in split_recipe_name(name)[1] if s in KV_SWITCHES), None)


def with_kv_switch(name: str, switch: str | None) -> str:
    """``name`` with its KV switch replaced by ``switch`` (added if it has none; removed for None)."""
    if switch is not None and switch not in KV_SWITCHES:
        raise VlmqError(f"unknown KV switch {switch!r}; choose from: {', '.join(KV_SWITCHES)}")
    base, switches = split_recipe_name(name)
    current = kv_switch(name)
    if current is None:
        return join_recipe_name(base, (*switches, switch) if switch else switches)
    replaced = [switch if s == current else s for s in switches]
    return join_recipe_name(base, [s for s in replaced if s])


def weight_recipe_name(name: str) -> str | None:
    """The weight part of a recipe name (``fp8+kv_fp8_text`` -> ``fp8``): KV, attention and keep switches
    dropped; None if it quantizes no weight."""
    base, switches = split_recipe_name(name)
    if RECIPES.get(base) is not None and not _quantizes(RECIPES[base]):
        return None
    kept = [
        s
        for s in switches
        if s not in KV_SWITCHES and s not in _WEIGHTLESS_SWITCHES and s.partition("=")[0] not in ("keep", "keep8")
    ]
    return join_recipe_name(base, kept)


# ----- where it runs ---------------------------------------------------------------------------------
def runs_real(spec: RecipeSpec, dev_class: str) -> bool:
    """True when every quantized op of the spec runs on real low-precision kernels on ``dev_class``."""
    return dev_class in spec.recipe.real_on and not spec.fp8_attention


def kernel_label(spec: RecipeSpec, device: torch.device | str) -> str:
    """``"real"`` or ``"emulated"`` (same numerics on reference arithmetic: accuracy only, never a speed figure)."""
    return "real" if runs_real(spec, device_class(device)) else "emulated"


def format_recipe_table() -> str:
    """The text ``vlmq recipes`` prints: one line per recipe, then the switches."""
    head = (
        f"{'recipe':<12} {'WxA':<6} {'weight':<9} {'act':<9} {'calib':<5} "
        + " ".join(f"{c:<6}" for c in DEVICE_CLASSES)
        + "  granularity"
    )
    lines = [head]
    for r in list_recipes():
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
