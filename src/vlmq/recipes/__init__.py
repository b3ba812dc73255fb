"""Quantization recipes for the text decoder of a Qwen2-VL-family model (vision tower untouched).

Public API (docs/architecture.md, section vlmq.recipes): ``Recipe``, ``RecipeSpec``, ``parse_recipe``,
``list_recipes``, ``list_switches``, ``kernel_label``, ``apply_recipe``, ``calibrate_kv_scales``,
``CalibrationSet``, ``load_calibration``; plus ``format_recipe_table`` (``vlmq recipes``),
``decoder_weight_bytes`` (bandwidth bound), ``kv_scales_from_stats`` and ``KVAmaxObserver``.
"""

from .apply import apply_recipe, decoder_weight_bytes, weight_formats, weight_storage_bytes
from .calibration import CalibrationSet, load_calibration
from .emulated import fp8_round_trip, nvfp4_round_trip
from .kv import KV_STRATEGIES, KVAmaxObserver, KVStats, calibrate_kv_scales, kv_scales_from_stats
from .registry import (
    DEVICE_CLASSES,
    Recipe,
    RecipeSpec,
    device_class,
    format_recipe_table,
    kernel_label,
    list_recipes,
    list_switches,
    parse_recipe,
)

__all__ = [
    "CalibrationSet", "DEVICE_CLASSES", "KVAmaxObserver", "KVStats", "KV_STRATEGIES", "Recipe", "RecipeSpec",
    "apply_recipe", "calibrate_kv_scales", "decoder_weight_bytes", "device_class", "format_recipe_table",
    "fp8_round_trip", "kernel_label", "kv_scales_from_stats", "list_recipes", "list_switches",
    "load_calibration", "nvfp4_round_trip", "parse_recipe", "weight_formats", "weight_storage_bytes",
]
