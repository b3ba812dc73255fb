"""Emulated (fake-quantized) activation paths, for formats whose kernels this device lacks.

Weights are still stored in the real low-precision format (torchao tensor subclasses); only the
activation side is emulated: the input is rounded through the target format and back to BF16 just
before the linear. Results from these paths are accuracy-only and are labelled "emulated".
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vlmq.engine.kv_cache import FP8_MAX

EMULATED_ACT_ATTR = "vlmq_emulated_activation"  # set on every linear carrying an emulation hook


def fp8_round_trip(x: torch.Tensor, per_token: bool = True) -> torch.Tensor:
    """Emulated FP8 E4M3 quantization: amax/448 scale per token (last dim) or per tensor, then back."""
    amax = x.abs().amax(dim=-1, keepdim=True) if per_token else x.abs().amax()
    scale = amax.float().clamp(min=1e-12) / FP8_MAX
    q = (x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return (q.float() * scale).to(x.dtype)


def nvfp4_round_trip(x: torch.Tensor) -> torch.Tensor:
    """Emulated NVFP4: torchao's E2M1 + per-16 E4M3 block scales + FP32 global scale, then back."""
    from torchao.prototype.mx_formats.nvfp4_tensor import NVFP4Tensor, per_tensor_amax_to_scale

    flat = x.reshape(-1, x.shape[-1]).contiguous()
    global_scale = per_tensor_amax_to_scale(flat.abs().amax().float())
    q = NVFP4Tensor.to_nvfp4(flat, per_tensor_scale=global_scale)
    return q.dequantize(x.dtype).reshape(x.shape)


ACTIVATION_EMULATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "fp8_per_token": fp8_round_trip,
    "fp8_per_tensor": lambda x: fp8_round_trip(x, per_token=False),
    "nvfp4": nvfp4_round_trip,
}


def attach_activation_emulation(model: nn.Module, filter_fn, kind: str) -> int:
    """Round every matching linear's input through ``kind`` (a key of ACTIVATION_EMULATIONS).

    A forward pre-hook keeps the module an ``nn.Linear`` (the engine calls the model's own linears).
    Returns the number of linears hooked.
    """
    round_trip = ACTIVATION_EMULATIONS[kind]
    hooked = 0
    for fqn, module in model.named_modules():
        if filter_fn(module, fqn):
            module.register_forward_pre_hook(lambda _m, args: (round_trip(args[0]), *args[1:]))
            setattr(module, EMULATED_ACT_ATTR, kind)
            hooked += 1
    return hooked
