"""NVFP4: E2M1 values, one E4M3 scale per 16-element block, one FP32 global scale per tensor.

Stays on torchao (``NVFP4Tensor``), seen by the engine as the "module" path. Real on sm100+
(Blackwell): torchao's NVFP4DynamicActivationNVFP4WeightConfig (W4A4, FP4 ``_scaled_mm``). Everywhere
else, and for W4A8 (``nvfp4+act=fp8``, the original study's label, which has no kernel anywhere), the
weights are still stored as NVFP4Tensor (packed E2M1 bytes, unswizzled E4M3 block scales, FP32 global
scale) and dequantized at matmul time, while activations are rounded through NVFP4 (W4A4) or per-token
FP8 (W4A8): emulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vlmq.engine.qformat import LinearFormat
from vlmq.engine.qlinear import NVFP4Linear

from .context import ApplyContext
from .entry import RecipeEntry, choice_option
from .quantize import swap_linears


@dataclass(frozen=True)
class NVFP4Options:
    act: str = "nvfp4"  # "nvfp4" (W4A4) or "fp8" (W4A8, per-token FP8 activations)


def nvfp4_format(options: NVFP4Options) -> LinearFormat:
    if options.act == "fp8":
        return LinearFormat("nvfp4", "block16", "fp8_e4m3", "token")
    return LinearFormat("nvfp4", "block16", "nvfp4", "block16")


def apply_nvfp4(ctx: ApplyContext) -> None:
    fmt = nvfp4_format(ctx.options)
    names = [fqn for fqn, _ in ctx.target_linears()]
    if ctx.real:
        from torchao.prototype.mx_formats import NVFP4DynamicActivationNVFP4WeightConfig
        from torchao.quantization import quantize_

        # use_triton_kernel needs the optional mslk package; the plain path needs nothing extra
        quantize_(ctx.model, NVFP4DynamicActivationNVFP4WeightConfig(use_triton_kernel=False), filter_fn=ctx.filter_fn)
        swap_linears(ctx.model, names, lambda linear: NVFP4Linear(linear.weight.detach(), linear.bias, fmt, real=True))
        return
    swap_linears(
        ctx.model, names, lambda linear: NVFP4Linear(nvfp4_weight(linear.weight.detach()), linear.bias, fmt, real=False)
    )


def nvfp4_weight(weight: torch.Tensor):
    """Weight-only NVFP4Tensor; block scales unswizzled since no FP4 GEMM will read them."""
    from torchao.prototype.mx_formats.nvfp4_tensor import NVFP4Tensor, per_tensor_amax_to_scale

    global_scale = per_tensor_amax_to_scale(weight.abs().amax().float())
    return NVFP4Tensor.to_nvfp4(weight.contiguous(), per_tensor_scale=global_scale, is_swizzled_scales=False)


def nvfp4_granularity(options: NVFP4Options) -> str:
    activations = "; FP8 per-token activations" if options.act == "fp8" else ""
    return f"E2M1 values, E4M3 scale per 16-element block, FP32 global scale{activations}"


_ACT_HELP = "nvfp4 activations: act=nvfp4 (W4A4, default) or act=fp8 (W4A8, the study's label)"
NVFP4 = RecipeEntry(
    "nvfp4",
    "NVFP4 W4A4 (torchao NVFP4DynamicActivationNVFP4WeightConfig on sm100+; emulated elsewhere)",
    options=NVFP4Options,
    switches=(choice_option("act", "act", _ACT_HELP, ("nvfp4", "fp8")),),
    linear_format=nvfp4_format,
    granularity=nvfp4_granularity,
    apply=apply_nvfp4,
)
