"""FP8 E4M3 W8A8.

Default granularity: per-row weight scales and per-token activation scales. One outlier row or
token (Qwen2's k_proj bias makes some large) then cannot crush the range of all the others, and on
H100 torchao's own benchmark shows row-wise is also the faster of the two (167.7 vs 128.0 tok/s,
Llama-3.1-8B). ``fp8+gran=tensor`` selects per-tensor scales.

Real on sm89+: torchao Float8DynamicActivationFloat8WeightConfig with ``KernelPreference.TORCH``
(``torch._scaled_mm``; pinned so torchao never picks the optional mslk kernels). Elsewhere emulated:
weights stored as real float8_e4m3fn with the same scales (torchao Float8WeightOnlyConfig), and
activations rounded through FP8 before a BF16 matmul.
"""

from __future__ import annotations

from torchao.quantization import (
    Float8DynamicActivationFloat8WeightConfig,
    Float8WeightOnlyConfig,
    PerRow,
    PerTensor,
    quantize_,
)

from .context import ApplyContext
from .emulated import attach_activation_emulation


def apply_fp8(ctx: ApplyContext) -> None:
    per_row = ctx.spec.fp8_granularity == "row"
    granularity = PerRow() if per_row else PerTensor()
    if ctx.real:
        from torchao.quantization.quantize_.common import KernelPreference

        config = Float8DynamicActivationFloat8WeightConfig(
            granularity=granularity, kernel_preference=KernelPreference.TORCH, set_inductor_config=False)
        quantize_(ctx.model, config, filter_fn=ctx.filter_fn)
        return
    quantize_(ctx.model, Float8WeightOnlyConfig(granularity=granularity, set_inductor_config=False),
              filter_fn=ctx.filter_fn)
    attach_activation_emulation(ctx.model, ctx.filter_fn, "fp8_per_token" if per_row else "fp8_per_tensor")
