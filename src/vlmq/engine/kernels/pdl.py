"""Programmatic dependent launch (Hopper): how vlmq's Triton kernels (the GEMV, ``normalize_rows``, the decode
attention) are launched so that a kernel starts while the previous one finishes.

A kernel launched with PDL loads what does not depend on its predecessor (its first weight tile, earlier steps'
cache blocks) and then waits (``griddepcontrol.wait``, which returns once the whole previous grid has finished and
its writes are visible) before reading activations. It may start only once every program of the previous kernel
has called ``griddepcontrol.launch_dependents`` (or exited): the trigger, placed late (after a program's sums) or
early (as it starts) per kernel, ``pdl_trigger``.

Measured on the H200: PDL itself (bench_kernels.py, the 100 decode cases of qwen2-vl-2b / 7b at M = 1 and 16, in
CUDA graphs) was faster in 89, by 0.67 us a call at the median (2b o_proj bf16 6.4 -> 5.2 us), slower in a few
M = 16 cases (2b gate_up int8-a8 11.9 -> 12.7 us), with identical results. Early triggers everywhere (2026-12-01,
fifteenth session, docs/benchmarks.md): 2b BF16 batch 1 1.331 -> 1.290 ms/token, but int4_wo 1.071 -> 1.178, fp8
1.238 -> 1.383 and every batch 16 6-21 % slower (the triggers cascade: gate/up's first wave lands while q/k/v still
streams), so late stays the default.
"""

from __future__ import annotations

import functools
import os

import torch

from vlmq.errors import VlmqError

USE_PDL = True
PDL_TRIGGER = "late"  # pdl_trigger's default
PDL_LATE, PDL_EARLY = 1, 2  # the PDL constexpr of the kernels (0: launched without PDL)
PDL_KERNELS = ("gemv", "rows", "attention")  # the GEMV, normalize_rows and decode attention
PDL_TRIGGER_ENV = "VLMQ_PDL_TRIGGER"


@functools.cache
def pdl_capable(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (9, 0)


def pdl_trigger(kernel: str) -> int:
    """Where ``kernel``'s programs let the next kernel launch: ``$VLMQ_PDL_TRIGGER`` is ``late`` (after a program's
    sums, the default), ``early`` (as it starts, so the next kernel's programs load their first weights and cache
    blocks while this one streams) or the comma-separated kernels of ``PDL_KERNELS`` that trigger early (the others
    late); as the kernels' ``PDL`` constexpr."""
    value = os.environ.get(PDL_TRIGGER_ENV, PDL_TRIGGER)
    early = {"late": (), "early": PDL_KERNELS}.get(value)
    if early is None:
        early = tuple(name.strip() for name in value.split(","))
        if not set(early) <= set(PDL_KERNELS):
            kinds = ", ".join(PDL_KERNELS)
            raise VlmqError(f"{PDL_TRIGGER_ENV}={value!r}: use late, early or kernels that trigger early from {kinds}")
    return PDL_EARLY if kernel in early else PDL_LATE


def launch_pdl(device: torch.device, pdl: bool | None, kernel: str = "gemv") -> dict:
    """Launch keywords for programmatic dependent launch (``USE_PDL`` unless ``pdl`` says), where it runs:
    Hopper or newer, not in Triton's interpreter (no PTX there); ``PDL`` says where ``kernel``'s programs trigger
    the next launch (``pdl_trigger``)."""
    on = (USE_PDL if pdl is None else pdl) and os.environ.get("TRITON_INTERPRET") != "1" and pdl_capable(device)
    return {"PDL": pdl_trigger(kernel), "launch_pdl": True} if on else {"PDL": 0}
