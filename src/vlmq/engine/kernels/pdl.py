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
# a decoder layer's GEMVs by the projection they run (``gemv_projection``): ``gemv`` in the knob names all four
PDL_PROJECTIONS = ("qkv", "o", "gate_up", "down")
PDL_TRIGGER_ENV = "VLMQ_PDL_TRIGGER"


@functools.cache
def pdl_capable(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (9, 0)


def pdl_trigger(kernel: str, projection: str | None = None) -> int:
    """Where ``kernel``'s programs let the next kernel launch: ``$VLMQ_PDL_TRIGGER`` is ``late`` (after a program's
    sums, the default), ``early`` (as it starts, so the next kernel's programs load their first weights and cache
    blocks while this one streams) or the comma-separated names of those that trigger early (the others late):
    kernels of ``PDL_KERNELS``, or a GEMV by its ``projection`` (``PDL_PROJECTIONS``), so that an early trigger
    need not cascade (a kernel that triggers early followed by one that also does lets a third launch while the
    first still streams); as the kernels' ``PDL`` constexpr."""
    value = os.environ.get(PDL_TRIGGER_ENV, PDL_TRIGGER)
    early = {"late": (), "early": PDL_KERNELS}.get(value)
    if early is None:
        early = tuple(name.strip() for name in value.split(","))
        if not set(early) <= set(PDL_KERNELS + PDL_PROJECTIONS):
            names = ", ".join(PDL_KERNELS + PDL_PROJECTIONS)
            raise VlmqError(
                f"{PDL_TRIGGER_ENV}={value!r}: use late, early or the names that trigger early from {names}"
            )
    return PDL_EARLY if kernel in early or (projection is not None and projection in early) else PDL_LATE


def gemv_projection(act_silu_mul: bool, residual: bool, n: int, k: int) -> str:
    """Which projection of a decoder layer a fused GEMV runs, from its fusions: gate/up (SiLU·mul), o or down (the
    residual add; o maps the attention's heads back to the hidden size, K = N in Qwen2), else q/k/v (and the
    lm_head, after which no PDL kernel follows)."""
    if act_silu_mul:
        return "gate_up"
    if residual:
        return "o" if k == n else "down"
    return "qkv"


def launch_pdl(device: torch.device, pdl: bool | None, kernel: str = "gemv", projection: str | None = None) -> dict:
    """Launch keywords for programmatic dependent launch (``USE_PDL`` unless ``pdl`` says), where it runs:
    Hopper or newer, not in Triton's interpreter (no PTX there); ``PDL`` says where ``kernel``'s programs (a GEMV:
    of ``projection``) trigger the next launch (``pdl_trigger``)."""
    on = (USE_PDL if pdl is None else pdl) and os.environ.get("TRITON_INTERPRET") != "1" and pdl_capable(device)
    return {"PDL": pdl_trigger(kernel, projection), "launch_pdl": True} if on else {"PDL": 0}
