"""``apply_recipe``: quantize the text decoder in place and describe what was stored.

Only the decoder's linears are touched (plus lm_head on request); embeddings and the vision tower
never are. The recipe's entry (registry.py) does the quantizing: its linears become vlmq's quantized
modules (``vlmq.engine.qlinear``), holding exactly the tensors a server loads.
"""

from __future__ import annotations

import dataclasses
import re

import torch
from torch import nn

from vlmq.device import device_class
from vlmq.engine.qlinear import decoder_weight_bytes, weight_formats
from vlmq.errors import UnsupportedOnDevice, VlmqError
from vlmq.models import is_decoder_linear

from .calibration import CalibrationSet, run_calibration
from .context import ApplyContext
from .registry import RecipeSpec, kernel_label, runs_real
from .weight_only import INT8_FORMAT, quantize_targets

_LAYER_INDEX = re.compile(r"\.layers\.(\d+)\.")


def decoder_filter(include_lm_head: bool = False, keep_layers=(), keep_types=()):
    """``filter_fn(module, fqn)`` selecting the decoder's float linears (and lm_head if asked), minus the
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

    Raises UnsupportedOnDevice where ``+real`` asks for real kernels that this device lacks, and
    VlmqError for a calibrating recipe without calibration prompts.
    """
    model = loaded.model
    device = next(model.parameters()).device
    dev_class = device_class(device)
    _check_real(spec, dev_class)
    if spec.recipe.needs_calibration and (calib is None or not calib.prompts):
        raise VlmqError(
            f"recipe {spec.name!r} needs calibration but the calibration set is empty; "
            f"pass load_calibration('builtin') or a non-empty dataset"
        )
    _check_keep(model, spec)
    filter_fn = decoder_filter(spec.include_lm_head, spec.keep_layers, spec.keep_types)
    ctx = ApplyContext(
        model=model,
        spec=spec,
        device_class=dev_class,
        filter_fn=filter_fn,
        calibrate=lambda: run_calibration(loaded, calib),
    )
    with torch.no_grad():
        if spec.entry.apply is not None:
            spec.entry.apply(ctx)
        elif (fmt := spec.entry.linear_format(spec.options)) is not None:
            quantize_targets(ctx, fmt)
        if spec.keep_8bit:
            quantize_targets(
                dataclasses.replace(ctx, filter_fn=kept_filter(spec.keep_layers, spec.keep_types)), INT8_FORMAT
            )
    return _summary(model, spec, device, calib if spec.recipe.needs_calibration else None)


def _check_keep(model: nn.Module, spec: RecipeSpec) -> None:
    """A keep list naming a layer the decoder does not have is a typo, not a no-op."""
    if not spec.keep_layers:
        return
    n_layers = model.config.get_text_config().num_hidden_layers
    bad = [i for i in spec.keep_layers if i >= n_layers]
    if bad:
        raise VlmqError(
            f"keep lists layer {bad[0]} but the decoder has {n_layers} layers; use indices 0-{n_layers - 1}"
        )


def _check_real(spec: RecipeSpec, dev_class: str) -> None:
    if spec.require_real and not runs_real(spec, dev_class):
        where = ", ".join(spec.recipe.real_on) or "no device in this stack"
        raise UnsupportedOnDevice(
            f"recipe {spec.name!r} is only emulated on {dev_class} (real kernels: "
            f"{where}); drop '+real' to run it emulated"
        )


def _emulated_activations(model: nn.Module, device: torch.device) -> list[str]:
    """Activation formats that run on reference arithmetic here (no hardware for them on this device)."""
    formats = {getattr(m, "format", None) for m in model.modules()}
    return sorted(
        f"{f.activation}_per_{f.activation_granularity}"
        for f in formats
        if f is not None and f.activation != "bf16" and device_class(device) not in f.real_on
    )


def _summary(model: nn.Module, spec: RecipeSpec, device: torch.device, calib) -> dict:
    recipe = spec.recipe
    return {
        "recipe": spec.name,
        "base_recipe": recipe.name,
        "wxa": recipe.wxa,
        "weight": recipe.weight,
        "activation": recipe.activation,
        "granularity": recipe.granularity,
        "kernel": kernel_label(spec, device),
        "device_class": device_class(device),
        "formats": weight_formats(model, spec.include_lm_head),
        "decoder_weight_bytes": decoder_weight_bytes(model, spec.include_lm_head),
        "lm_head_quantized": spec.include_lm_head,
        "emulated_activations": _emulated_activations(model, device),
        "kv": {"dtype": spec.kv.dtype, "strategy": spec.kv.strategy},
        "fp8_attention": spec.fp8_attention,
        "calibration": calib.summary if calib is not None else None,
        "keep": {
            "layers": list(spec.keep_layers),
            "types": list(spec.keep_types),
            "format": "int8_wo" if spec.keep_8bit else "bf16",
        }
        if spec.keeps
        else None,
    }
