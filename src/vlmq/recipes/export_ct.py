"""The compressed-tensors checkpoint of a quantized model: ``quantization_config`` and the tensors it names.

What each recipe becomes (one config group per stored format; vLLM, SGLang and transformers load these):

- int8 weight-only (int8_wo, keep8): pack-quantized, int8 channel symmetric;
  ``weight_packed`` (four values to an int32), ``weight_scale [N, 1]``, ``weight_shape``;
- int4 group (int4_wo, int4_awq): pack-quantized, int4 group; ``weight_packed``, ``weight_scale [N, G]``,
  ``weight_shape``, and when asymmetric ``weight_zero_point`` (packed eight to an int32 along N);
- int8 W8A8 (smoothquant): int-quantized, int8 channel weights + int8 per-token dynamic activations;
  ``weight`` (int8), ``weight_scale``;
- FP8 W8A8 (fp8): float-quantized, FP8 channel or tensor weights + dynamic activations; ``weight`` (E4M3),
  ``weight_scale``;
- NVFP4 W4A4 (nvfp4): nvfp4-pack-quantized, tensor_group 16; ``weight_packed``, ``weight_scale`` (E4M3 per 16),
  ``weight_global_scale``, ``input_global_scale``.

Static FP8 KV scales become ``kv_cache_scheme`` (``tensor`` or ``attn_head``) with ``self_attn.k_scale`` /
``v_scale``. The vision tower and lm_head stay out through ``ignore`` written for both naming schemes
(``re:.*visual.*`` matches transformers' in-memory ``model.visual.*`` and the checkpoint's ``visual.*``).
Every tensor is vlmq's own stored tensor (scales in the model dtype), so the export is the measured model.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from vlmq.engine.qformat import LinearFormat
from vlmq.engine.qlinear import NVFP4Linear, W4Linear, W8Linear, decoder_linears, linear_format
from vlmq.engine.types import KVConfig

IGNORE = ["re:.*visual.*", "re:.*lm_head"]  # vision tower and lm_head stay BF16, in every naming scheme
_LAYER_AND_TYPE = re.compile(r"layers\.(\d+)\.(self_attn|mlp)\.(\w+_proj)$")


def scheme_args(fmt: LinearFormat) -> tuple[dict, dict | None, str]:
    """(weights args, input-activation args or None, compression format) of a vlmq linear format."""
    if fmt.weight == "nvfp4":
        nvfp4 = {"num_bits": 4, "type": "float", "symmetric": True, "strategy": "tensor_group", "group_size": 16}
        return {**nvfp4, "dynamic": False}, {**nvfp4, "dynamic": "local"}, "nvfp4-pack-quantized"
    kind = "float" if fmt.weight == "fp8_e4m3" else "int"
    bits = 4 if fmt.weight == "int4" else 8
    weights = {
        "num_bits": bits,
        "type": kind,
        "symmetric": fmt.symmetric,
        "dynamic": False,
        "strategy": {"channel": "channel", "tensor": "tensor", "group": "group"}[fmt.weight_granularity],
    }
    if fmt.weight_granularity == "group":
        weights["group_size"] = fmt.group_size
    if fmt.activation == "bf16":
        return weights, None, "pack-quantized"
    act_kind = "float" if fmt.activation == "fp8_e4m3" else "int"
    inputs = {
        "num_bits": 8,
        "type": act_kind,
        "symmetric": True,
        "dynamic": True,
        "strategy": fmt.activation_granularity,
    }
    return weights, inputs, "float-quantized" if kind == "float" else "int-quantized"


def _targets(names: list[str], everything: bool) -> list[str]:
    """``Linear`` when a group holds every quantized decoder linear, else one regex per linear type."""
    if everything:
        return ["Linear"]
    by_type: dict[tuple[str, str], list[str]] = {}
    for name in names:
        layer, block, kind = _LAYER_AND_TYPE.search(name).groups()
        by_type.setdefault((block, kind), []).append(layer)
    return [f"re:.*layers\\.({'|'.join(layers)})\\.{block}\\.{kind}$" for (block, kind), layers in by_type.items()]


def kept_ignores(model: nn.Module) -> list[str]:
    """Ignore entries for decoder linears a ``keep=`` list left in BF16 (one regex per linear type)."""
    names = [fqn for fqn, m in decoder_linears(model) if linear_format(m) is None]
    return _targets(names, everything=False) if names else []


def quantization_config(model: nn.Module, kv: KVConfig | None) -> dict:
    """``config.json["quantization_config"]`` for the quantized decoder, validated by compressed-tensors itself."""
    from compressed_tensors.quantization import QuantizationArgs, QuantizationConfig, QuantizationScheme

    linears = [(fqn, linear_format(m)) for fqn, m in decoder_linears(model)]
    formats = list(dict.fromkeys(f for _, f in linears if f is not None))
    quantized_names = [fqn for fqn, f in linears if f is not None]
    groups, compressions = {}, []
    for i, fmt in enumerate(formats):
        weights, inputs, compression = scheme_args(fmt)
        names = [fqn for fqn, f in linears if f == fmt]
        groups[f"group_{i}"] = QuantizationScheme(
            targets=_targets(names, everything=len(formats) == 1),
            weights=QuantizationArgs(**weights),
            input_activations=QuantizationArgs(**inputs) if inputs else None,
            format=compression,
        )
        compressions.append(compression)
    kv_scheme = None
    if kv is not None and kv.dtype == "fp8":
        kv_scheme = QuantizationArgs(
            num_bits=8,
            type="float",
            symmetric=True,
            dynamic=False,
            strategy="attn_head" if kv.strategy == "per_head" else "tensor",
        )
    fmt = compressions[0] if len(set(compressions)) == 1 else "mixed-precision" if compressions else "dense"
    config = QuantizationConfig(
        config_groups=groups,
        format=fmt,
        quantization_status="compressed",
        ignore=IGNORE + kept_ignores(model) if quantized_names else IGNORE,
        kv_cache_scheme=kv_scheme,
    )
    return config.model_dump()


def linear_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """The compressed-tensors tensors of one quantized linear (names relative to the module), bias included."""
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32

    fmt = module.format
    out: dict[str, torch.Tensor] = {}
    if isinstance(module, W8Linear):
        scale = module.weight_scale.to(module.scale_dtype)
        out["weight_scale"] = scale[:1] if fmt.weight_granularity == "tensor" else scale.reshape(-1, 1)
        if fmt.activation == "bf16":  # W8A16: pack-quantized int8 (four values to an int32)
            out["weight_packed"] = pack_to_int32(module.qweight, 8)
            out["weight_shape"] = torch.tensor(list(module.qweight.shape))
        else:
            out["weight"] = module.qweight
    elif isinstance(module, W4Linear):
        out.update(
            weight_packed=module.qweight,
            weight_scale=module.weight_scale,
            weight_shape=torch.tensor([module.out_features, module.in_features]),
        )
        if module.weight_zero_point is not None:
            out["weight_zero_point"] = pack_to_int32(module.weight_zero_point, 4, packed_dim=0)
    elif isinstance(module, NVFP4Linear):
        out.update(nvfp4_tensors(module))
    else:
        raise TypeError(f"no compressed-tensors layout for {type(module).__name__}")
    if module.bias is not None:
        out["bias"] = module.bias
    return {k: v.detach().contiguous() for k, v in out.items()}


def nvfp4_tensors(module: NVFP4Linear) -> dict[str, torch.Tensor]:
    """torchao's NVFP4Tensor in compressed-tensors' layout: the global scale is the inverse of torchao's
    per-tensor scale (dequantization ``fp4 * scale / global`` differs from torchao's ``fp4 * scale * pts``
    by at most one ulp). ``input_global_scale`` (static in compressed-tensors' W4A4) comes from the
    activation maxima recorded on the calibration prompts (``record_input_global_scales``)."""
    weight = module.weight
    if weight.is_swizzled_scales:
        raise ValueError("NVFP4 weights with swizzled block scales (sm100 kernels) cannot be exported as stored")
    out = {
        "weight_packed": weight.qdata,
        "weight_scale": weight.scale,
        "weight_global_scale": (1.0 / weight.per_tensor_scale.float()).reshape(1),
    }
    if module.format.activation == "nvfp4":
        out["input_global_scale"] = module.input_global_scale.float().reshape(1)
    return out


NVFP4_RANGE = 448.0 * 6.0  # E4M3 max x E2M1 max: compressed-tensors' global scale is this over the amax


def record_input_global_scales(model: nn.Module, calibrate) -> None:
    """Set ``input_global_scale`` on every NVFP4 W4A4 linear from its input amax over ``calibrate()``."""
    from .smoothing import record_inputs

    targets = {
        fqn: m for fqn, m in model.named_modules() if isinstance(m, NVFP4Linear) and m.format.activation == "nvfp4"
    }
    with record_inputs(targets) as stats:
        calibrate()
    for fqn, module in targets.items():
        amax = stats[fqn].absmax.amax().clamp(min=1e-12)
        module.input_global_scale = (NVFP4_RANGE / amax).reshape(1)


def kv_scale_tensors(model: nn.Module, kv: KVConfig) -> dict[str, torch.Tensor]:
    """``<layer>.self_attn.k_scale`` / ``v_scale`` (float32, amax / 448) under the in-memory layer names."""
    from vlmq.models import decoder_layers

    out = {}
    layers = {id(m): fqn for fqn, m in model.named_modules()}
    for i, layer in enumerate(decoder_layers(model)):
        prefix = f"{layers[id(layer)]}.self_attn"
        for name, table in (("k_scale", kv.scales.k), ("v_scale", kv.scales.v)):
            row = table[i].float()
            out[f"{prefix}.{name}"] = row.reshape(-1, 1, 1).clone() if kv.strategy == "per_head" else row[:1].clone()
    return out


def compressed_state_dict(model: nn.Module, kv: KVConfig | None) -> dict[str, torch.Tensor]:
    """The model's state dict (in-memory names) with every quantized linear in its compressed-tensors layout."""
    quantized = {fqn: m for fqn, m in model.named_modules() if linear_format(m) is not None}
    state = {k: v for k, v in model.state_dict().items() if not any(k.startswith(prefix + ".") for prefix in quantized)}
    for fqn, module in quantized.items():
        state.update({f"{fqn}.{name}": t for name, t in linear_tensors(module).items()})
    if kv is not None and kv.dtype == "fp8":
        state.update(kv_scale_tensors(model, kv))
    return state
