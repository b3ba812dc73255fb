"""SmoothQuant W8A8, as deployed: smoothing folded into the RMSNorms, then plain int8 x int8.

One smoothing vector per RMSNorm, shared by the linears it feeds (q/k/v, gate/up; with ``smooth=all``
also up_proj -> down_proj, and v_proj -> o_proj where the shapes allow it), computed as in the paper
and llm-compressor: ``s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)`` from the running per-channel
activation maxima over the calibration prompts and the column maxima over all the mapping's weights.
It is folded into the norm weight (smoothing.py), so no ``act_pre_scale`` is left to multiply at run
time. Then every target linear is stored int8 per output channel (symmetric) and computed with
dynamic per-token int8 activations (``vlmq::w8_linear``): compressed-tensors' int-quantized W8A8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vlmq.engine.qformat import LinearFormat

from .context import ApplyContext
from .entry import Option, RecipeEntry, choice_option, parse_number
from .smoothing import MAPPING_SITES, collect_input_stats, fold_scales, smoothing_mappings
from .weight_only import quantize_targets

W8A8_FORMAT = LinearFormat("int8", "channel", "int8", "token")
SMOOTH_SITES = {"norms": ("attn_in", "mlp_in"), "all": MAPPING_SITES}
MIN_SCALE = 1e-5  # llm-compressor's MINIMUM_SMOOTHING_SCALE


@dataclass(frozen=True)
class SmoothQuantOptions:
    alpha: float = 0.5
    smooth: str = "norms"  # which mappings are smoothed: "norms" or "all" (adds up->down, v->o where shapes allow)


_ALPHA_HELP = "SmoothQuant migration strength in [0, 1], e.g. alpha=0.8 (default 0.5)"
SWITCHES = (
    Option("alpha", "alpha", _ALPHA_HELP, parse_number("alpha", float, lambda a: 0.0 <= a <= 1.0, _ALPHA_HELP)),
    choice_option(
        "smooth",
        "smooth",
        "SmoothQuant mappings: smooth=norms (RMSNorm -> q/k/v, gate/up; default) or "
        "smooth=all (also up_proj -> down_proj)",
        tuple(SMOOTH_SITES),
    ),
)


def smoothing_scales(act_absmax: torch.Tensor, weights: list[torch.Tensor], alpha: float) -> torch.Tensor:
    """Pure: SmoothQuant's per-channel factors from activation maxima [K] and the mapping's weights [N_i, K]."""
    w_absmax = torch.stack([w.detach().abs().float().amax(dim=0) for w in weights]).amax(dim=0)
    scales = act_absmax.float().clamp(min=MIN_SCALE).pow(alpha) / w_absmax.clamp(min=MIN_SCALE).pow(1 - alpha)
    return scales.clamp(min=MIN_SCALE)


def apply_smoothquant(ctx: ApplyContext) -> None:
    targets = {id(m) for _, m in ctx.target_linears()}
    mappings = [
        m
        for m in smoothing_mappings(ctx.model, SMOOTH_SITES[ctx.options.smooth])
        if any(id(linear) in targets for linear in m.balance)
    ]
    stats = collect_input_stats(mappings, ctx.calibrate)
    for mapping in mappings:
        weights = [linear.weight for linear in mapping.balance]
        fold_scales(mapping, smoothing_scales(stats[mapping.name].absmax, weights, ctx.options.alpha))
    quantize_targets(ctx, W8A8_FORMAT)


SMOOTHQUANT = RecipeEntry(
    "smoothquant",
    "SmoothQuant W8A8: one smoothing vector per RMSNorm folded into its weight, then int8 weights "
    "and dynamic per-token int8 activations (compressed-tensors int-quantized)",
    options=SmoothQuantOptions,
    switches=SWITCHES,
    linear_format=lambda options: W8A8_FORMAT,
    granularity=lambda o: (
        f"weight per-channel, activation per-token dynamic; smoothing alpha {o.alpha:g} "
        f"folded into {'the RMSNorms' if o.smooth == 'norms' else 'RMSNorms and up_proj'}"
    ),
    apply=apply_smoothquant,
    needs_calibration=True,
)
