"""A later GEMV's weights brought into L2 while HBM idles at decode (``$VLMQ_L2_PREFETCH``; off by default).

Why: at batch 1 a decode layer leaves HBM idle for most of its decode attention, a chain of dependent round trips
over ~0.3 MB of K/V (H200, qwen2-vl-2b, 300-token context: the attention adds ~10.6 us a layer, docs/benchmarks.md),
and the small q/k/v GEMV streams at ~1.5 TB/s. 10 us at ~4 TB/s is ~40 MB: on the 2b, most of gate/up's weights in
BF16 and all of the MLP's in 8 bits, against an L2 of ~50 MB. So a GEMV that runs before that window can issue bulk
L2 prefetches (Hopper's ``cp.async.bulk.prefetch.L2``: fire and forget, no registers, no shared memory) of the MLP's
weights, gate/up then down, and gate/up then streams what arrived from L2.

The setting names the GEMV that issues them and how many MB: ``qkv:32`` (q/k/v's programs, each after its sums,
before its epilogue: the window opens as q/k/v ends) or ``o:32`` (o_proj's programs as they start, before their PDL
wait). ``off`` (or unset): nothing is prefetched. A prefetch changes no result, only where bytes come from.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch

from vlmq.errors import VlmqError

PREFETCH_ENV = "VLMQ_L2_PREFETCH"
# the GEMV (by projection, pdl.gemv_projection) that may issue the prefetches, and where in its programs
PF_OFF, PF_START, PF_END = 0, 1, 2  # the kernel's PF_AT constexpr
ISSUERS = {"qkv": PF_END, "o": PF_START}
PIECE_BYTES = 8192  # one bulk prefetch; pieces are dealt across the whole grid so every SM issues a few
ALIGN = 16  # cp.async.bulk: 16-byte aligned addresses and sizes


class PrefetchTarget(NamedTuple):
    tensor: torch.Tensor  # contiguous: its bytes [data_ptr, data_ptr + nbytes) are prefetched
    nbytes: int  # a multiple of ALIGN
    rounds: int  # prefetches a thread issues (each program's threads take one piece each per round)


class PrefetchPlan(NamedTuple):
    at: int  # PF_START or PF_END
    targets: tuple[PrefetchTarget, ...]  # at most two (gate/up, then down)


def prefetch_setting() -> tuple[str, int] | None:
    """``$VLMQ_L2_PREFETCH`` as (issuing projection, bytes), or None where it is off or unset."""
    value = os.environ.get(PREFETCH_ENV, "off").strip()
    if value in ("", "off"):
        return None
    issuer, _, mb = value.partition(":")
    try:
        size = float(mb)
    except ValueError:
        size = -1.0
    if issuer not in ISSUERS or not size > 0:
        raise VlmqError(
            f"{PREFETCH_ENV}={value!r}: use off, or <issuer>:<MB> with issuer one of {', '.join(ISSUERS)} (e.g. qkv:32)"
        )
    return issuer, int(size * (1 << 20))


def prefetch_capable(device: torch.device) -> bool:
    """Hopper or newer, not in Triton's interpreter (which runs no PTX)."""
    interpreted = os.environ.get("TRITON_INTERPRET") == "1"
    return device.type == "cuda" and not interpreted and torch.cuda.get_device_capability(device) >= (9, 0)


def prefetch_plan(tensors, projection: str, programs: int, threads: int, device: torch.device) -> PrefetchPlan | None:
    """What a GEMV of ``projection`` with ``programs`` programs of ``threads`` threads prefetches from ``tensors``
    (in order, up to the setting's bytes), or None: the setting is off or names another projection, the GEMV does
    not run on an sm_90+ GPU (the instruction is Hopper's; Triton's interpreter has no PTX), or nothing is left."""
    setting = prefetch_setting()
    if setting is None or not tensors or setting[0] != projection or not prefetch_capable(device):
        return None
    left, targets = setting[1], []
    for t in tensors[:2]:
        if left < ALIGN or not t.is_contiguous() or t.data_ptr() % ALIGN:
            continue
        nbytes = min(t.numel() * t.element_size(), left) // ALIGN * ALIGN
        pieces = -(-nbytes // PIECE_BYTES)
        targets.append(PrefetchTarget(t, nbytes, -(-pieces // (programs * threads))))
        left -= nbytes
    return PrefetchPlan(ISSUERS[setting[0]], tuple(targets)) if targets else None


def prefetch_kernel_args(plan: PrefetchPlan | None, dummy: torch.Tensor) -> tuple[tuple, dict]:
    """The GEMV kernel's prefetch arguments (two pointer / byte pairs) and constexprs (PF_AT, PF_R0, PF_R1)."""
    targets = list(plan.targets) if plan is not None else []
    targets += [PrefetchTarget(dummy, 0, 0)] * (2 - len(targets))
    args = (targets[0].tensor, targets[0].nbytes, targets[1].tensor, targets[1].nbytes)
    meta = {"PF_AT": plan.at if plan is not None else PF_OFF, "PF_R0": targets[0].rounds, "PF_R1": targets[1].rounds}
    return args, meta
