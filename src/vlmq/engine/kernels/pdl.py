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
streams). Early only where it measured faster (sixteenth session: per GEMV projection, format and kernel,
``MEASURED_EARLY``), the rest late: the default.
"""

from __future__ import annotations

import functools
import os

import torch

from vlmq.errors import VlmqError

USE_PDL = True
PDL_TRIGGER = "measured"  # pdl_trigger's default: MEASURED_EARLY early, the rest late
PDL_LATE, PDL_EARLY = 1, 2  # the PDL constexpr of the kernels (0: launched without PDL)
PDL_KERNELS = ("gemv", "rows", "attention")  # the GEMV, normalize_rows and decode attention
# a decoding step's GEMVs by the projection they run (``gemv_projection``): ``gemv`` in the knob names all five
PDL_PROJECTIONS = ("qkv", "o", "gate_up", "down", "lm_head")
# The GEMVs that trigger early by default, as (projection, weight format, GEMV kernel: "dot" tensor cores, "sum" CUDA
# cores); measured on the H200 (2026-12-01, sixteenth session, docs/benchmarks.md: qwen2-vl-2b, bench_speed.py, median
# of 2, ms/token, all late -> this one early): bf16 q/k/v at batch 16 (tensor cores; the attention's programs load
# their cache blocks while q/k/v streams) 1.612 -> 1.545, int4 o at batch 1 (CUDA cores; gate/up's first wave loads
# its first weights during o_proj) 1.070 -> 1.042. The same trigger elsewhere measured slower or level: bf16 o at
# batch 1 1.329 -> 1.348, int4 q/k/v at batch 16 1.462 -> 1.486, the decode attention 1.329 -> 1.339. Added by the
# thirty-first session (2026-12-02, bench_decode_ab.py, one process a recipe, 3 interleaved rounds, ms/token, default
# -> these early): q/k/v with int8 weights on either kernel (2b int8_wo batch 1 1.044 -> 0.984, batch 16 0.984x;
# smoothquant 1.258 -> 1.143, 16: 0.961x; 7b batch 1 0.995-0.998x, int8_wo 16: 0.987x) and with fp8 weights on the
# tensor cores (batch 16: 2b 1.427 -> 1.352, 7b 0.974x; at batch 1, on the CUDA cores, level: 1.001x). int4's q/k/v
# early measured slower on the 2b again (batch 1 1.015x, 16 1.004x; the 7b's batch 1 0.991x). Added by the
# forty-sixth session (2026-12-04, same method, on the decode attention at 4 warps, which loads its cache blocks before
# its PDL wait): int4 q/k/v on the CUDA cores (batch 1) -- 2b int4_wo 0.914 -> 0.852 ms/token (0.932x; at batch 16,
# on the tensor cores, level: 1.005x, not added). Measured there and left late (x measured): int4 gate/up 0.994x and
# down 1.069x at batch 1; int8 o 1.148x, gate/up 1.030x, down 1.001x; fp8 gate/up 1.021x. Added by the forty-seventh
# session (2026-12-04, same method, after the engines' GPU test passed with them): fp8 q/k/v and o on the CUDA cores
# together (batch 1; each alone 0.995x / 0.992x) -- 2b 1.126 -> 1.113 ms/token (0.988x), 7b 2.641 -> 2.565 (0.971x).
# Left late: the decode attention (2b batch 1: bf16 1.001x, int8_wo 0.991x, int4_wo 1.000x), int4 gate/up and down at
# batch 16 (5 rounds: 0.998x / 1.007x). Added by the same session's last call: bf16 q/k/v on the CUDA cores (batch
# 1; the engines' GPU test passed with it) -- 2b 1.189 -> 1.133 ms/token (0.953x), 7b 3.700 -> 3.687 (0.996x): like
# the low-bit q/k/v, it lets the attention load its cache blocks while q/k/v streams. The A/B ran with the lm_head
# (then named as a q/k/v GEMV: same fusions) early too, so its ("lm_head", "bf16", "sum") entry keeps what was
# measured; that launch (the greedy advance, with PDL, follows it) is every recipe's, measured alone in none. An int8
# lm_head (``+lm_head``) triggers late: it was early only by that shared name, never measured. Added by the
# forty-eighth session (2026-12-04, same method): bf16 down on the CUDA cores (batch 1) -- 2b bf16 1.134 -> 1.126
# ms/token (0.992x; non-overlapping ranges). Measured there and left late: bf16 o 1.017x, gate/up 1.046x; the BF16
# lm_head late on the quantized steps (int4_wo, int8_wo, fp8: 0.999-1.001x, level: stays early); fp8 o / gate/up /
# down at batch 16 1.005 / 1.000 / 1.002x.
MEASURED_EARLY = frozenset(
    {
        ("qkv", "bf16", "dot"),
        ("qkv", "bf16", "sum"),
        ("o", "int4", "sum"),
        ("qkv", "int4", "sum"),
        ("qkv", "int8", "sum"),
        ("qkv", "int8", "dot"),
        ("qkv", "fp8", "dot"),
        ("qkv", "fp8", "sum"),
        ("o", "fp8", "sum"),
        ("lm_head", "bf16", "sum"),
        ("down", "bf16", "sum"),
    }
)
PDL_TRIGGER_ENV = "VLMQ_PDL_TRIGGER"
# Kernels launched without PDL, for an A/B of whole decode steps (bench_decode_ab.py --env VLMQ_PDL_OFF): a
# comma-separated list of pdl_trigger's names (kernels, projections, projection:format[:kernel]); unset, empty or
# "none": none.
# Why: alone in a CUDA graph, the 2b's one-row int8 GEMVs ran slower with PDL than without (forty-second session,
# bench_kernels.py: gate/up 13.6 against 11.5 us, down 10.2 against 7.5), where every other format gained from it; in
# the step they did not (int8_wo batch 1 without it on gate/up, down, both: 2b 1.011 / 1.028 / 1.019x, 7b both 1.008x).
PDL_OFF_ENV = "VLMQ_PDL_OFF"


@functools.cache
def pdl_capable(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (9, 0)


PDL_FORMATS = ("bf16", "int8", "fp8", "int4")  # a GEMV's weight formats by name (gemv.FORMAT_NAMES maps them)
PDL_GEMV_KERNELS = ("sum", "dot", "mma")  # CUDA cores, tensor cores (Triton), the int4 tensor-core GEMV (CUDA)


def pdl_trigger(kernel: str, gemv_case: tuple[str, str, str] | None = None) -> int:
    """Where ``kernel``'s programs let the next kernel launch, as the kernels' ``PDL`` constexpr: after a program's
    sums (late) or as it starts (early, so the next kernel's programs load their first weights and cache blocks while
    this one streams). ``$VLMQ_PDL_TRIGGER``: ``measured`` (the default: the GEMV cases of ``MEASURED_EARLY`` early,
    the rest late), ``late``, ``early`` (every kernel) or a comma-separated list of what triggers early (the rest
    late): kernels of ``PDL_KERNELS``; GEMVs by projection (``PDL_PROJECTIONS``), by projection and weight format
    (``qkv:int8``) or by projection, format and GEMV kernel (``qkv:int8:dot``); ``measured`` for ``MEASURED_EARLY``'s
    cases -- so that an A/B can name one set against another, and an early trigger need not cascade (a kernel that
    triggers early followed by one that also does lets a third launch while the first still streams). A GEMV's
    ``gemv_case``: (projection, weight format, GEMV kernel)."""
    value = os.environ.get(PDL_TRIGGER_ENV, PDL_TRIGGER)
    if value in ("late", "early"):
        return PDL_EARLY if value == "early" else PDL_LATE
    early = listed_names(PDL_TRIGGER_ENV, value, "use measured, late, early or the names that trigger early", True)
    return PDL_EARLY if any(name_covers(name, kernel, gemv_case) for name in early) else PDL_LATE


def pdl_off(kernel: str, gemv_case: tuple[str, str, str] | None = None) -> bool:
    """Whether ``$VLMQ_PDL_OFF`` names ``kernel`` (a GEMV: of ``gemv_case``), which then launches without PDL: no
    early start, no wait; its predecessor's trigger lets nothing launch early."""
    value = os.environ.get(PDL_OFF_ENV, "").strip()
    if value in ("", "none"):
        return False
    names = listed_names(
        PDL_OFF_ENV, value, "name what launches without PDL", False, "; none (or unset) for PDL everywhere"
    )
    return any(name_covers(name, kernel, gemv_case) for name in names)


def listed_names(env: str, value: str, fix: str, measured: bool, more: str = "") -> list[str]:
    """The comma-separated entries of ``$env`` (its ``value``), each one ``trigger_name_ok`` takes (``measured``
    only where ``measured``), else a one-line error: ``fix``, the names it takes, the bad ones, then ``more``."""
    names = [name.strip() for name in value.split(",")]
    bad = [name for name in names if not trigger_name_ok(name) or (name == "measured" and not measured)]
    if bad:
        raise VlmqError(
            f"{env}={value!r}: {fix} from {', '.join(PDL_KERNELS + PDL_PROJECTIONS)}"
            f"{', measured,' if measured else ''} or projection:format[:kernel] with formats {'/'.join(PDL_FORMATS)} "
            f"and kernels {'/'.join(PDL_GEMV_KERNELS)} (not {', '.join(bad)}){more}"
        )
    return names


def trigger_name_ok(name: str) -> bool:
    """Whether ``name`` is an entry ``pdl_trigger``'s list takes."""
    if name == "measured" or name in PDL_KERNELS + PDL_PROJECTIONS:
        return True
    parts = name.split(":")
    allowed = (PDL_PROJECTIONS, PDL_FORMATS, PDL_GEMV_KERNELS)
    return len(parts) in (2, 3) and all(part in names for part, names in zip(parts, allowed, strict=False))


def name_covers(name: str, kernel: str, gemv_case: tuple[str, str, str] | None) -> bool:
    """Whether the list entry ``name`` (``trigger_name_ok``) covers ``kernel`` (a GEMV: of ``gemv_case``)."""
    if name == "measured":
        return gemv_case in MEASURED_EARLY
    if name in PDL_KERNELS:
        return kernel == name
    parts = tuple(name.split(":"))
    return gemv_case is not None and gemv_case[: len(parts)] == parts


LM_HEAD_MIN_ROWS_PER_K = 3  # q/k/v's N is K plus the K/V heads: at most 3K (no GQA); a vocabulary is far wider


def gemv_projection(act_silu_mul: bool, residual: bool, n: int, k: int) -> str:
    """Which projection of a decoding step a fused GEMV runs, from its fusions and shape: gate/up (SiLU·mul), o or
    down (the residual add; o maps the attention's heads back to the hidden size, K = N in Qwen2), the lm_head (no
    fusion but its norm, N > ``LM_HEAD_MIN_ROWS_PER_K`` K) or q/k/v."""
    if act_silu_mul:
        return "gate_up"
    if residual:
        return "o" if k == n else "down"
    return "lm_head" if n > LM_HEAD_MIN_ROWS_PER_K * k else "qkv"


def launch_pdl(
    device: torch.device, pdl: bool | None, kernel: str = "gemv", gemv_case: tuple[str, str, str] | None = None
) -> dict:
    """Launch keywords for programmatic dependent launch (``USE_PDL`` unless ``pdl`` says), where it runs:
    Hopper or newer, not in Triton's interpreter (no PTX there); ``PDL`` says where ``kernel``'s programs (a GEMV:
    of ``gemv_case``) trigger the next launch (``pdl_trigger``)."""
    on = (USE_PDL if pdl is None else pdl) and os.environ.get("TRITON_INTERPRET") != "1" and pdl_capable(device)
    on = on and not pdl_off(kernel, gemv_case)
    return {"PDL": pdl_trigger(kernel, gemv_case), "launch_pdl": True} if on else {"PDL": 0}
