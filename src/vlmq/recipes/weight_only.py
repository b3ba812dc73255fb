"""Weight-only integer recipes: ``int8_wo`` (W8A16 per-channel) and ``int4_wo`` (W4A16 group-wise).

torchao does all of the work: Int8WeightOnlyConfig (Int8Tensor, any device); for int4 the
tinygemm tile-packed layout on CUDA sm80+ (Int4TilePackedTo4dTensor, ``aten._weight_int4pack_mm``)
and the CPU int4 kernel elsewhere (PrototypeInt4WeightOnlyConfig, Int4OpaqueTensor).
"""

from __future__ import annotations

from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig, quantize_

from vlmq.errors import VlmqError

from .context import ApplyContext
from .registry import INT4_GROUP_SIZES


def int4_base_config(device_class: str, group_size: int):
    """The int4 g-wise config with a real kernel on this device class (also AWQ's base)."""
    if device_class == "cpu":
        from torchao.prototype.quantization.int4 import PrototypeInt4WeightOnlyConfig

        return PrototypeInt4WeightOnlyConfig(group_size=group_size, set_inductor_config=False)
    return Int4WeightOnlyConfig(group_size=group_size, int4_packing_format="tile_packed_to_4d",
                                set_inductor_config=False)


def check_group_size(ctx: ApplyContext) -> None:
    """torchao silently skips linears the group does not divide; vlmq refuses instead."""
    group = ctx.spec.group_size
    widths = {linear.in_features for _, linear in ctx.target_linears()}
    bad = sorted(w for w in widths if w % group)
    if bad:
        fits = [g for g in INT4_GROUP_SIZES if all(w % g == 0 for w in widths)]
        fix = f"use {ctx.spec.recipe.name}+group={fits[-1]}" if fits else \
            f"no int4 group size ({'/'.join(map(str, INT4_GROUP_SIZES))}) divides them all"
        raise VlmqError(f"group size {group} does not divide decoder in_features {bad[0]}; {fix}")


def apply_int8_wo(ctx: ApplyContext) -> None:
    quantize_(ctx.model, Int8WeightOnlyConfig(set_inductor_config=False), filter_fn=ctx.filter_fn)


def apply_int4_wo(ctx: ApplyContext) -> None:
    check_group_size(ctx)
    quantize_(ctx.model, int4_base_config(ctx.device_class, ctx.spec.group_size), filter_fn=ctx.filter_fn)
