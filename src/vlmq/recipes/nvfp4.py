"""NVFP4: E2M1 values, one E4M3 scale per 16-element block, one FP32 global scale per tensor.

Real on sm100+ (Blackwell): torchao NVFP4DynamicActivationNVFP4WeightConfig (W4A4, FP4 ``_scaled_mm``).
Everywhere else, and for W4A8 (``nvfp4+act=fp8``, the original study's label, which torchao has no
kernel for), it is emulated: the weights are still stored as torchao NVFP4Tensor (packed E2M1 bytes,
unswizzled E4M3 block scales, FP32 global scale) and dequantized at matmul time, while activations are
rounded through NVFP4 (W4A4) or per-token FP8 (W4A8).
"""

from __future__ import annotations

import torch

from .context import ApplyContext
from .emulated import attach_activation_emulation


def apply_nvfp4(ctx: ApplyContext) -> None:
    if ctx.real and ctx.spec.act == "nvfp4":
        from torchao.prototype.mx_formats import NVFP4DynamicActivationNVFP4WeightConfig
        from torchao.quantization import quantize_

        # use_triton_kernel needs the optional mslk package; the plain path needs nothing extra
        quantize_(ctx.model, NVFP4DynamicActivationNVFP4WeightConfig(use_triton_kernel=False),
                  filter_fn=ctx.filter_fn)
        return
    for _fqn, linear in ctx.target_linears():
        linear.weight = torch.nn.Parameter(_nvfp4_weight(linear.weight.detach()), requires_grad=False)
    attach_activation_emulation(ctx.model, ctx.filter_fn, "nvfp4" if ctx.spec.act == "nvfp4" else "fp8_per_token")


def _nvfp4_weight(weight: torch.Tensor):
    """Weight-only NVFP4Tensor; block scales unswizzled since no FP4 GEMM will read them."""
    from torchao.prototype.mx_formats.nvfp4_tensor import NVFP4Tensor, per_tensor_amax_to_scale

    global_scale = per_tensor_amax_to_scale(weight.abs().amax().float())
    return NVFP4Tensor.to_nvfp4(weight.contiguous(), per_tensor_scale=global_scale, is_swizzled_scales=False)
