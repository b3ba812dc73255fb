"""``apply_recipe``: quantize the text decoder in place and describe what was stored.

Only the decoder's linears are touched (plus lm_head on request); embeddings and the vision tower
never are. Which library does what:
- torchao: every real kernel and every stored format (Int8Tensor, Int4OpaqueTensor,
  Int4TilePackedTo4dTensor, Float8Tensor, NVFP4Tensor), SmoothQuant and AWQ calibration.
- vlmq: the decoder filter, device checks, the emulated activation round trips (emulated.py),
  calibration corpora (calibration.py) and FP8 KV-cache scale strategies (kv.py).
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict

import torch
from torch import nn

from vlmq.errors import UnsupportedOnDevice, VlmqError
from vlmq.models import is_decoder_linear

from .awq import apply_int4_awq
from .calibration import CalibrationSet, run_calibration
from .context import ApplyContext
from .emulated import EMULATED_ACT_ATTR
from .fp8 import apply_fp8
from .nvfp4 import apply_nvfp4
from .registry import RecipeSpec, device_class, kernel_label, runs_real
from .smoothquant import apply_smoothquant
from .weight_only import apply_int4_wo, apply_int8_wo

_LAYER_INDEX = re.compile(r"\.layers\.(\d+)\.")

_HANDLERS = {
    "bf16": lambda ctx: None,
    "int8_wo": apply_int8_wo,
    "int4_wo": apply_int4_wo,
    "smoothquant": apply_smoothquant,
    "fp8": apply_fp8,
    "int4_awq": apply_int4_awq,
    "nvfp4": apply_nvfp4,
}


def decoder_filter(include_lm_head: bool = False, keep_layers=(), keep_types=()):
    """``filter_fn(module, fqn)`` selecting the decoder's linears (and lm_head if asked), minus the
    layers and linear types a mixed-precision recipe keeps out (``+keep=``)."""
    def select(module: nn.Module, fqn: str) -> bool:
        if include_lm_head and fqn == "lm_head" and isinstance(module, nn.Linear):
            return True
        return is_decoder_linear(module, fqn) and not is_kept(fqn, keep_layers, keep_types)
    return select


def is_kept(fqn: str, keep_layers=(), keep_types=()) -> bool:
    """True for a decoder linear (``...layers.3.mlp.down_proj``) whose layer or type is listed."""
    match = _LAYER_INDEX.search(fqn)
    in_layer = match is not None and int(match.group(1)) in keep_layers
    return in_layer or fqn.rsplit(".", 1)[-1] in keep_types


def kept_filter(keep_layers=(), keep_types=()):
    """``filter_fn`` selecting exactly the decoder linears a ``+keep=`` list keeps out."""
    return lambda module, fqn: is_decoder_linear(module, fqn) and is_kept(fqn, keep_layers, keep_types)


def apply_recipe(loaded, spec: RecipeSpec, calib: CalibrationSet | None) -> dict:
    """Quantize ``loaded.model``'s text decoder in place; return a JSON-able summary.

    Raises UnsupportedOnDevice where the recipe cannot run here (or ``+real`` asks for real kernels
    that this device lacks), and VlmqError for a calibrating recipe without calibration prompts.
    """
    model = loaded.model
    device = next(model.parameters()).device
    dev_class = device_class(device)
    _check_device(spec, dev_class)
    if spec.recipe.needs_calibration and (calib is None or not calib.prompts):
        raise VlmqError(f"recipe {spec.name!r} needs calibration but the calibration set is empty; "
                        f"pass load_calibration('builtin') or a non-empty dataset")
    _check_keep(model, spec)
    filter_fn = decoder_filter(spec.include_lm_head, spec.keep_layers, spec.keep_types)
    ctx = ApplyContext(model=model, spec=spec, device_class=dev_class, filter_fn=filter_fn,
                       calibrate=lambda: run_calibration(loaded, calib))
    _HANDLERS[spec.recipe.name](ctx)
    if spec.keep_8bit:
        apply_int8_wo(dataclasses.replace(ctx, filter_fn=kept_filter(spec.keep_layers, spec.keep_types)))
    return _summary(model, spec, device, calib if spec.recipe.needs_calibration else None)


def _check_keep(model: nn.Module, spec: RecipeSpec) -> None:
    """A keep list naming a layer the decoder does not have is a typo, not a no-op."""
    if not spec.keep_layers:
        return
    n_layers = model.config.get_text_config().num_hidden_layers
    bad = [i for i in spec.keep_layers if i >= n_layers]
    if bad:
        raise VlmqError(f"keep lists layer {bad[0]} but the decoder has {n_layers} layers; "
                        f"use indices 0-{n_layers - 1}")


def _check_device(spec: RecipeSpec, dev_class: str) -> None:
    recipe = spec.recipe
    if dev_class not in recipe.real_on and not recipe.emulated_elsewhere:
        raise UnsupportedOnDevice(f"recipe {spec.name!r} has no kernel on {dev_class}; "
                                  f"it runs on: {', '.join(recipe.real_on)}")
    if spec.require_real and not runs_real(spec, dev_class):
        where = ", ".join(recipe.real_on) or "no device in this stack"
        raise UnsupportedOnDevice(f"recipe {spec.name!r} is only emulated on {dev_class} (real kernels: "
                                  f"{where}); drop '+real' to run it emulated")


def weight_storage_bytes(weight: torch.Tensor) -> int:
    """Bytes actually stored for one weight: every inner tensor of a torchao subclass (data + scales)."""
    names = getattr(weight, "tensor_data_names", None)
    if names is None:
        return weight.numel() * weight.element_size()
    names = list(names) + list(getattr(weight, "optional_tensor_data_names", None) or [])
    return sum(weight_storage_bytes(t) for t in (getattr(weight, n, None) for n in names) if t is not None)


def weight_format(weight: torch.Tensor) -> str:
    """``Int8Tensor``, ``NVFP4Tensor``, ... for torchao subclasses, else the plain dtype (``bfloat16``)."""
    names = getattr(weight, "tensor_data_names", None)
    return type(weight).__name__ if names is not None else str(weight.dtype).removeprefix("torch.")


def decoder_weight_bytes(model: nn.Module, include_lm_head: bool = False) -> int:
    """Real stored bytes of the decoder's linears (weights incl. scales, plus biases): the bandwidth bound."""
    select = decoder_filter(include_lm_head)
    total = 0
    for fqn, module in model.named_modules():
        if select(module, fqn):
            total += weight_storage_bytes(module.weight)
            total += module.bias.numel() * module.bias.element_size() if module.bias is not None else 0
    return total


def weight_formats(model: nn.Module, include_lm_head: bool = False) -> dict:
    """Per stored format: linears, parameters, bytes and bytes per parameter (to check against theory)."""
    select = decoder_filter(include_lm_head)
    formats: dict = defaultdict(lambda: {"linears": 0, "params": 0, "bytes": 0})
    for fqn, module in model.named_modules():
        if select(module, fqn):
            entry = formats[weight_format(module.weight)]
            entry["linears"] += 1
            entry["params"] += module.in_features * module.out_features
            entry["bytes"] += weight_storage_bytes(module.weight)
    for entry in formats.values():
        entry["bytes_per_param"] = entry["bytes"] / entry["params"]
    return dict(formats)


def _summary(model: nn.Module, spec: RecipeSpec, device: torch.device, calib) -> dict:
    recipe = spec.recipe
    emulated_acts = sorted({getattr(m, EMULATED_ACT_ATTR) for m in model.modules() if hasattr(m, EMULATED_ACT_ATTR)})
    return {
        "recipe": spec.name, "base_recipe": recipe.name, "wxa": recipe.wxa, "weight": recipe.weight,
        "activation": recipe.activation, "granularity": recipe.granularity,
        "kernel": kernel_label(spec, device), "device_class": device_class(device),
        "formats": weight_formats(model, spec.include_lm_head),
        "decoder_weight_bytes": decoder_weight_bytes(model, spec.include_lm_head),
        "lm_head_quantized": spec.include_lm_head, "emulated_activations": emulated_acts,
        "kv": {"dtype": spec.kv.dtype, "strategy": spec.kv.strategy}, "fp8_attention": spec.fp8_attention,
        "calibration": calib.summary if calib is not None else None,
        "keep": {"layers": list(spec.keep_layers), "types": list(spec.keep_types),
                 "format": "int8_wo" if spec.keep_8bit else "bf16"} if spec.keeps else None,
    }
