"""What every recipe's apply function receives: the model, the parsed spec, the device class, the targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class ApplyContext:
    model: nn.Module
    spec: "RecipeSpec"  # noqa: F821 - vlmq.recipes.registry.RecipeSpec (not imported: the registry imports us)
    device_class: str  # "cpu" | "sm80" | "sm89" | "sm90" | "sm100"
    filter_fn: Callable[[nn.Module, str], bool]  # the float linears this recipe quantizes
    calibrate: Callable[[], None]  # runs the calibration prompts through the model once

    @property
    def real(self) -> bool:
        return self.device_class in self.spec.recipe.real_on

    @property
    def options(self):
        return self.spec.options

    def target_linears(self) -> list[tuple[str, nn.Module]]:
        return [(fqn, m) for fqn, m in self.model.named_modules() if self.filter_fn(m, fqn)]
