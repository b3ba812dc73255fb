"""FP8 E4M3 W8A8 (compressed-tensors float-quantized, "FP8 dynamic").

Default granularity: per-row weight scales and dynamic per-token activation scales. One outlier row or
token (Qwen2's k_proj bias makes some large) then cannot crush the range of all the others, and on
H100 torchao's own benchmark shows row-wise is also the faster of the two (167.7 vs 128.0 tok/s,
Llama-3.1-8B). ``fp8+gran=tensor`` selects one weight scale and one dynamic activation scale per tensor.

The engine computes it with ``vlmq::w8_linear`` (E4M3 x E4M3 -> FP32) on sm89+; elsewhere (CPU, A100)
the op's reference runs the same numerics and the recipe is labelled emulated.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmq.engine.qformat import LinearFormat

from .entry import RecipeEntry, choice_option


@dataclass(frozen=True)
class FP8Options:
    granularity: str = "row"  # "row": per-row weights, per-token activations; "tensor": both per tensor


def fp8_format(options: FP8Options) -> LinearFormat:
    row = options.granularity == "row"
    return LinearFormat("fp8_e4m3", "channel" if row else "tensor", "fp8_e4m3", "token" if row else "tensor")


def fp8_granularity(options: FP8Options) -> str:
    if options.granularity == "row":
        return "weight per-row, activation per-token dynamic"
    return "weight per-tensor, activation per-tensor dynamic"


_GRAN_HELP = "fp8 scales: gran=row (default) or gran=tensor"
FP8 = RecipeEntry(
    "fp8",
    "FP8 E4M3 W8A8, dynamic activation scales; per-row by default because one outlier row or token then "
    "cannot crush the range of all others",
    options=FP8Options,
    switches=(choice_option("gran", "granularity", _GRAN_HELP, ("row", "tensor")),),
    linear_format=fp8_format,
    granularity=fp8_granularity,
)
