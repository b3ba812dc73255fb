"""INT4-AWQ: activation-aware per-channel scale search on the calibration set, then int4 g128.

torchao's prototype AWQConfig records each linear's inputs, grid-searches the scale exponent that
minimises the int4 output error, and stores ``1/scale`` as the weight's ``act_pre_scale``. The base is
the device's int4 config (tinygemm tile-packed on CUDA, Int4OpaqueTensor on CPU).
"""

from __future__ import annotations

from torchao.quantization import quantize_

from .context import ApplyContext
from .weight_only import check_group_size, int4_base_config

SCALE_SEARCH_STEPS = 20  # torchao's default grid over the exponent in [0, 1)


def _config(ctx: ApplyContext, step: str):
    from torchao.prototype.awq import AWQConfig

    base = int4_base_config(ctx.device_class, ctx.spec.group_size)
    return AWQConfig(base_config=base, step=step, scale_search_space_size=SCALE_SEARCH_STEPS)


def apply_int4_awq(ctx: ApplyContext) -> None:
    check_group_size(ctx)
    quantize_(ctx.model, _config(ctx, "prepare"), filter_fn=ctx.filter_fn)
    ctx.calibrate()
    quantize_(ctx.model, _config(ctx, "convert"), filter_fn=_is_observed)


def _is_observed(module, _fqn) -> bool:
    from torchao.prototype.awq.core import AWQObservedLinear

    return isinstance(module, AWQObservedLinear)
