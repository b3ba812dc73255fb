"""What every recipe handler receives: the model, the parsed spec, the device class, the filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from .registry import RecipeSpec


@dataclass(frozen=True)
class ApplyContext:
    model: nn.Module
    spec: RecipeSpec
    device_class: str  # "cpu" | "sm80" | "sm89" | "sm90" | "sm100"
    filter_fn: Callable[[nn.Module, str], bool]  # the linears this recipe quantizes
    calibrate: Callable[[], None]  # runs the calibration prompts through the model once

    @property
    def real(self) -> bool:
        return self.device_class in self.spec.recipe.real_on

    def target_linears(self):
        return [(fqn, m) for fqn, m in self.model.named_modules() if self.filter_fn(m, fqn)]
