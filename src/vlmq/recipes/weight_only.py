"""The baseline and the weight-only integer recipes: ``bf16``, ``int8_wo`` (W8A16) and ``int4_wo`` (W4A16).

Weights are quantized round-to-nearest (``quantize.py``) into the layouts compressed-tensors serves:
int8 per output channel, symmetric; int4 per group of input columns (128 by default), with integer
zero points (asymmetric, the default) or symmetric (``+sym``), packed eight to an int32. The engine's
ops compute them on every device (``vlmq::w8_linear``, ``vlmq::w4a16_linear``).
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmq.engine.qformat import LinearFormat
from vlmq.errors import VlmqError

from .context import ApplyContext
from .entry import NoOptions, Option, RecipeEntry, parse_number
from .quantize import swap_linears, w4_module, w8_module

INT4_GROUP_SIZES = (32, 64, 128, 256)  # what the W4A16 kernels of vLLM/SGLang (Marlin, Machete) accept


@dataclass(frozen=True)
class Int4Options:
    group_size: int = 128
    symmetric: bool = False


_GROUP_HELP = "int4 group size: group=32|64|128|256 (default 128)"
INT4_SWITCHES = (
    Option(
        "group", "group_size", _GROUP_HELP, parse_number("group", int, lambda g: g in INT4_GROUP_SIZES, _GROUP_HELP)
    ),
    Option("sym", "symmetric", "int4 symmetric (no zero points; default: asymmetric, integer zero points)", flag=True),
)

INT8_FORMAT = LinearFormat("int8", "channel")


def int4_format(options: Int4Options) -> LinearFormat:
    return LinearFormat("int4", "group", group_size=options.group_size, symmetric=options.symmetric)


def int4_granularity(options: Int4Options) -> str:
    zero = "symmetric" if options.symmetric else "asymmetric (integer zero points)"
    return f"per-group g{options.group_size} {zero}"


def check_group_size(ctx: ApplyContext) -> None:
    """A group that does not divide a linear's input width cannot be stored; say which group would."""
    group = ctx.options.group_size
    widths = {linear.in_features for _, linear in ctx.target_linears()}
    bad = sorted(w for w in widths if w % group)
    if bad:
        fits = [g for g in INT4_GROUP_SIZES if all(w % g == 0 for w in widths)]
        fix = (
            f"use {ctx.spec.recipe.name}+group={fits[-1]}"
            if fits
            else f"no int4 group size ({'/'.join(map(str, INT4_GROUP_SIZES))}) divides them all"
        )
        raise VlmqError(f"group size {group} does not divide decoder in_features {bad[0]}; {fix}")


def quantize_targets(ctx: ApplyContext, fmt: LinearFormat) -> int:
    """Replace every target linear by its quantized module in ``fmt`` (int8/FP8 ``w8`` or int4 ``w4``)."""
    make = (lambda linear: w4_module(linear, fmt)) if fmt.op == "w4" else (lambda linear: w8_module(linear, fmt))
    return swap_linears(ctx.model, [fqn for fqn, _ in ctx.target_linears()], make)


def apply_int4_wo(ctx: ApplyContext) -> None:
    check_group_size(ctx)
    quantize_targets(ctx, int4_format(ctx.options))


BF16 = RecipeEntry("bf16", "baseline: decoder unquantized")
INT8_WO = RecipeEntry(
    "int8_wo",
    "int8 weight-only, per output channel, symmetric (W8A16; compressed-tensors pack-quantized int8)",
    linear_format=lambda options: INT8_FORMAT,
    granularity=lambda options: "per-channel symmetric",
)
INT4_WO = RecipeEntry(
    "int4_wo",
    "int4 weight-only, group-wise round-to-nearest (W4A16; compressed-tensors pack-quantized int4)",
    options=Int4Options,
    switches=INT4_SWITCHES,
    linear_format=int4_format,
    granularity=int4_granularity,
    apply=apply_int4_wo,
)

__all__ = ["BF16", "INT4_WO", "INT8_WO", "INT4_GROUP_SIZES", "Int4Options", "NoOptions"]
