"""The torchao checkpoint of a quantized model, for users who serve with transformers (``TorchAoConfig``).

vlmq's stored tensors are wrapped, unchanged, in the torchao tensor subclass that holds the same format,
so the weights are bit-exact with what vlmq measured (the matmul at run time is torchao's):

| vlmq format                  | torchao tensor (config written to config.json)                                 |
|------------------------------|--------------------------------------------------------------------------------|
| int8 weight-only             | Int8Tensor (Int8WeightOnlyConfig)                                              |
| int8 W8A8 (smoothquant)      | Int8Tensor + per-token int8 activations (Int8DynamicActivationInt8WeightConfig) |
| int4 group, integer zeros    | IntxUnpackedToInt8Tensor (IntxWeightOnlyConfig(int4, PerGroup(g)))             |
| FP8 W8A8                     | Float8Tensor + dynamic FP8 activations (Float8DynamicActivationFloat8WeightConfig) |

torchao's tinygemm int4 layout stores float zero points and cannot hold these weights; NVFP4, KV-cache
scales and mixed precision go to compressed-tensors only (export.py says so in its refusals).
"""

from __future__ import annotations

import pathlib

import torch
from torch import nn

from vlmq.engine.kernels import unpack_int4
from vlmq.engine.qformat import LinearFormat
from vlmq.engine.qlinear import W4Linear, W8Linear, linear_format

NOT_CONVERTED = ["visual", "lm_head"]  # TorchAoConfig.modules_to_not_convert: the vision tower and lm_head


def torchao_config(fmt: LinearFormat):
    """The torchao config whose tensors hold ``fmt`` (written to config.json; transformers reads it back)."""
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
        IntxWeightOnlyConfig,
        MappingType,
        PerGroup,
        PerRow,
        PerTensor,
    )
    from torchao.quantization.quantize_.common import KernelPreference

    if fmt.weight == "int4":
        mapping = MappingType.SYMMETRIC if fmt.symmetric else MappingType.ASYMMETRIC
        return IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(fmt.group_size), mapping_type=mapping)
    if fmt.weight == "int8":
        return Int8WeightOnlyConfig() if fmt.activation == "bf16" else Int8DynamicActivationInt8WeightConfig()
    granularity = PerRow() if fmt.weight_granularity == "channel" else PerTensor()
    return Float8DynamicActivationFloat8WeightConfig(granularity=granularity, kernel_preference=KernelPreference.TORCH)


def torchao_weight(module: nn.Module, dtype: torch.dtype) -> torch.Tensor:
    """vlmq's stored tensors in the torchao subclass of the same format (no value changes)."""
    from torchao.quantization import Float8Tensor, Int8Tensor, IntxUnpackedToInt8Tensor, MappingType, PerRow, PerTensor

    fmt = module.format
    n, k = module.out_features, module.in_features
    if isinstance(module, W4Linear):
        zero = (
            module.weight_zero_point
            if module.weight_zero_point is not None
            else torch.zeros_like(module.weight_scale, dtype=torch.int8)
        )
        return IntxUnpackedToInt8Tensor(
            unpack_int4(module.qweight), module.weight_scale, zero, torch.int4, (1, fmt.group_size), dtype, None
        )
    if not isinstance(module, W8Linear):
        raise TypeError(f"no torchao tensor for {type(module).__name__}")
    if fmt.weight == "int8":
        from torchao.quantization.quantize_.workflows.int8.int8_tensor import QuantizeTensorToInt8Kwargs

        act = None if fmt.activation == "bf16" else QuantizeTensorToInt8Kwargs(PerRow(), MappingType.SYMMETRIC)
        return Int8Tensor(module.qweight, module.weight_scale.reshape(n, 1), [1, k], dtype, act_quant_kwargs=act)
    from torchao.float8.inference import Float8MMConfig
    from torchao.quantization.quantize_.common import KernelPreference
    from torchao.quantization.quantize_.workflows.float8.float8_tensor import QuantizeTensorToFloat8Kwargs

    per_row = fmt.weight_granularity == "channel"
    granularity = PerRow() if per_row else PerTensor()
    act = QuantizeTensorToFloat8Kwargs(torch.float8_e4m3fn, granularity, kernel_preference=KernelPreference.TORCH)
    scale = module.weight_scale.reshape(n, 1) if per_row else module.weight_scale[:1].reshape(1, 1)
    return Float8Tensor(
        module.qweight,
        scale,
        [1, k] if per_row else [n, k],
        Float8MMConfig(use_fast_accum=True),
        act,
        KernelPreference.TORCH,
        dtype,
    )


def save_torchao(model: nn.Module, staging: pathlib.Path) -> None:
    """Swap vlmq's quantized linears for ``nn.Linear`` with torchao weights and ``save_pretrained`` the model."""
    from transformers import TorchAoConfig
    from transformers.quantizers import AutoHfQuantizer

    quantized = [(fqn, m) for fqn, m in model.named_modules() if linear_format(m) is not None]
    formats = {m.format for _, m in quantized}
    if len(formats) != 1:
        raise ValueError(f"a torchao checkpoint holds one format, this model has {len(formats)}")
    dtype = model.get_input_embeddings().weight.dtype
    for fqn, module in quantized:
        linear = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None, device="meta")
        linear.weight = nn.Parameter(torchao_weight(module, dtype), requires_grad=False)
        if module.bias is not None:
            linear.bias = nn.Parameter(module.bias.detach(), requires_grad=False)
        parent_name, _, child = fqn.rpartition(".")
        setattr(model.get_submodule(parent_name), child, linear)
    config = TorchAoConfig(quant_type=torchao_config(formats.pop()), modules_to_not_convert=NOT_CONVERTED)
    model.config.quantization_config = config
    model.hf_quantizer = AutoHfQuantizer.from_config(config, pre_quantized=True)
    model.save_pretrained(staging)
