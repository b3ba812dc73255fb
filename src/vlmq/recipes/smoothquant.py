"""SmoothQuant W8A8: migrate activation outliers into the weights, then int8 x int8.

torchao's prototype SmoothQuantConfig does prepare (observers) -> calibrate -> convert over
Int8DynamicActivationInt8WeightConfig (int8 per-channel weights, int8 per-token dynamic activations,
``torch._int_mm``). Note: torchao applies the smoothing factor at run time (``x * act_pre_scale``)
instead of folding it into the preceding RMSNorm as the paper and TensorRT-LLM do.
"""

from __future__ import annotations

from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

from .context import ApplyContext


def _config(step: str, alpha: float):
    from torchao.prototype.smoothquant import SmoothQuantConfig

    base = Int8DynamicActivationInt8WeightConfig(set_inductor_config=False)
    # running absmax: O(features) memory and prompts of different lengths (the default observer
    # concatenates raw inputs and fails on them); dynamic activations need no second pass
    return SmoothQuantConfig(base_config=base, step=step, alpha=alpha, use_running_absmax=True)


def apply_smoothquant(ctx: ApplyContext) -> None:
    quantize_(ctx.model, _config("prepare", ctx.spec.alpha), filter_fn=ctx.filter_fn)
    ctx.calibrate()
    # prepare swapped the linears for observed ones; convert touches only those
    quantize_(ctx.model, _config("convert", ctx.spec.alpha), filter_fn=_is_observed)


def _is_observed(module, _fqn) -> bool:
    from torchao.prototype.smoothquant.core import SmoothQuantObservedLinear

    return isinstance(module, SmoothQuantObservedLinear)
