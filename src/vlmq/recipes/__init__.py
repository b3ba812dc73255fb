"""Quantization recipes for the text decoder of a Qwen2-VL-family model (vision tower untouched).

Public API (docs/architecture.md, section vlmq.recipes): ``Recipe``, ``RecipeSpec``, ``parse_recipe``,
``list_recipes``, ``list_switches``, ``kernel_label``, ``apply_recipe``, ``calibrate_kv_scales``,
``CalibrationSet``, ``load_calibration``; ``engine_options`` / ``prepare_engine`` (a recipe's KV part);
name helpers ``weight_recipe_name``, ``kv_switch``, ``with_kv_switch``, ``split_recipe_name``; plus
``export_checkpoint`` / ``export_refusal`` (``vlmq export``), ``format_recipe_table`` (``vlmq recipes``),
``kv_scales_from_stats`` and ``KVAmaxObserver``.
Where a recipe lives: registry.py lists them; each is one ``RecipeEntry`` next to its apply function.
"""

from vlmq.device import device_class
from vlmq.engine.qformat import DEVICE_CLASSES
from vlmq.engine.qlinear import decoder_weight_bytes, weight_formats

from .apply import apply_recipe
from .calibration import CalibrationSet, load_calibration
from .entry import Recipe
from .export import ExportCalibration, export_checkpoint, export_refusal
from .kv import (
    KV_STRATEGIES,
    KVAmaxObserver,
    KVStats,
    calibrate_kv_scales,
    engine_options,
    kv_scales_from_stats,
    prepare_engine,
)
from .registry import (
    RecipeSpec,
    format_recipe_table,
    join_recipe_name,
    kernel_label,
    kv_switch,
    list_recipes,
    list_switches,
    parse_recipe,
    split_recipe_name,
    weight_recipe_name,
    with_kv_switch,
)

__all__ = [
    "CalibrationSet",
    "DEVICE_CLASSES",
    "ExportCalibration",
    "KVAmaxObserver",
    "KVStats",
    "KV_STRATEGIES",
    "Recipe",
    "RecipeSpec",
    "apply_recipe",
    "calibrate_kv_scales",
    "decoder_weight_bytes",
    "device_class",
    "engine_options",
    "export_checkpoint",
    "export_refusal",
    "format_recipe_table",
    "join_recipe_name",
    "kernel_label",
    "kv_scales_from_stats",
    "kv_switch",
    "list_recipes",
    "list_switches",
    "load_calibration",
    "parse_recipe",
    "prepare_engine",
    "split_recipe_name",
    "weight_formats",
    "weight_recipe_name",
    "with_kv_switch",
]
