"""Inductor's persistent (one-pass) reductions widened to rows of up to ``WIDE_ROW_MAX`` values, for the vision tower.

Inductor reduces a row in one pass, held in registers, only up to 1024 values (``InductorChoices.
should_use_persistent_reduction``'s threshold for inner reductions); longer rows are looped: a first pass for the
statistics and a second that reads the row again. The Qwen2-VL vision tower's LayerNorms run over 1280 channels,
so all 64 of a tower compile as looped reductions (6.2 us each for 1024 patches on the H200, eighth session's
profile; ~0.4 ms of the ~4 ms tower). ``WideRowChoices`` keeps Inductor's answer and adds inner reductions over a
constant number of values up to ``WIDE_ROW_MAX``. The fused tower's default (``vision.FusedVisionTower``);
``bench_attention.py --sections vision_options`` times it against the looped form. A module-level class, so
Inductor's caches can pickle it.
"""

from __future__ import annotations

from torch._inductor import config
from torch._inductor.choices import InductorChoices
from torch._inductor.runtime.hints import ReductionHint

WIDE_ROW_MAX = 2048


def constant_values(numel) -> int | None:
    """A reduction's length where it is a constant (the channels of a LayerNorm), else None (a dynamic length)."""
    try:
        return int(numel)
    except TypeError:
        return None


class WideRowChoices(InductorChoices):
    """Inductor's choices, with persistent inner reductions up to ``WIDE_ROW_MAX`` values (the module docstring)."""

    @staticmethod
    def should_use_persistent_reduction(features, cooperative_reduction: bool) -> bool:
        if InductorChoices.should_use_persistent_reduction(features, cooperative_reduction):
            return True
        if cooperative_reduction or not config.triton.persistent_reductions:
            return False
        if features.get_reduction_hint() != ReductionHint.INNER:
            return False
        values = constant_values(features.reduction_numel)
        return values is not None and values <= WIDE_ROW_MAX
