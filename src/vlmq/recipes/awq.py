"""INT4-AWQ, as deployed: activation-aware scales folded into the preceding op, then the int4 layout of int4_wo.

For every mapping (smoothing.py: input_layernorm -> q/k/v, post_attention_layernorm -> gate/up,
up_proj -> down_proj; v_proj -> o_proj only where shapes allow, i.e. not under Qwen2-VL's GQA) one
scale vector is searched on a grid, as llm-compressor's AWQModifier does (``duo_scaling``):
``s = x_mean^r / (w_mean^(1-r) + 1e-4)`` for r in 0, 1/20, ..., 19/20, normalised by
``sqrt(max(s) * min(s))``, where ``x_mean`` is the mean |activation| per channel over the calibration
tokens and ``w_mean`` the mean group-normalised |weight| per column. The chosen ``s`` minimises the
mean squared error of the mapping's quantized outputs ``Q(W s) (x / s)`` against ``W x`` on a sample
of calibration tokens (``TOKENS_PER_PROMPT`` each). Difference from llm-compressor: the error is taken
over the balance linears' own outputs (q/k/v concatenated, gate/up concatenated, down), not over the
whole attention or MLP block. The scales are folded (norm weights, up_proj rows) and the weights
quantized round-to-nearest into int4 groups with integer zero points (``+sym``: symmetric).
"""

from __future__ import annotations

import torch

from .context import ApplyContext
from .entry import RecipeEntry
from .quantize import fake_quantize_int4
from .smoothing import MAPPING_SITES, InputStats, Mapping, collect_input_stats, fold_scales, smoothing_mappings
from .weight_only import INT4_SWITCHES, Int4Options, check_group_size, int4_format, int4_granularity, quantize_targets

GRID = 20  # llm-compressor's and torchao's default n_grid
TOKENS_PER_PROMPT = 64  # calibration tokens per prompt kept (evenly spaced) to score a candidate scale


def column_means(weights: list[torch.Tensor], group_size: int) -> torch.Tensor:
    """Mean over all output rows of |w| / max |w| of its group, per input column: AWQ's ``w_mean``."""
    w = torch.cat([x.detach().float() for x in weights], dim=0)
    groups = w.abs().reshape(-1, group_size)
    normalised = groups / (groups.amax(dim=1, keepdim=True) + 1e-6)
    return normalised.reshape(w.shape).mean(dim=0)


@torch.no_grad()
def search_scales(stats: InputStats, mapping: Mapping, quantized: list[torch.nn.Linear], fmt) -> torch.Tensor:
    """The grid point whose folded-and-quantized outputs are closest to the float ones (see module doc)."""
    x = stats.tokens().float()
    weights = [linear.weight.detach() for linear in quantized]
    reference = torch.cat([x @ w.float().t() for w in weights], dim=-1)
    x_mean, w_mean = stats.absmean, column_means([linear.weight for linear in mapping.balance], fmt.group_size)
    best, best_error = torch.ones_like(x_mean), float("inf")
    for step in range(GRID):
        ratio = step / GRID
        scales = (x_mean.pow(ratio) / (w_mean.pow(1 - ratio) + 1e-4)).clamp(min=1e-4)
        scales = scales / (scales.max() * scales.min()).sqrt()
        out = torch.cat(
            [(x / scales) @ fake_quantize_int4((w.float() * scales).to(w.dtype), fmt).float().t() for w in weights],
            dim=-1,
        )
        error = (out - reference).pow(2).mean().item()
        if error < best_error:
            best, best_error = scales, error
    return best


def apply_int4_awq(ctx: ApplyContext) -> None:
    check_group_size(ctx)
    fmt = int4_format(ctx.options)
    targets = {id(m) for _, m in ctx.target_linears()}
    mappings = [m for m in smoothing_mappings(ctx.model, MAPPING_SITES) if any(id(x) in targets for x in m.balance)]
    stats = collect_input_stats(mappings, ctx.calibrate, keep_tokens_per_prompt=TOKENS_PER_PROMPT)
    for mapping in mappings:
        quantized = [linear for linear in mapping.balance if id(linear) in targets]
        fold_scales(mapping, search_scales(stats.pop(mapping.name), mapping, quantized, fmt))
    quantize_targets(ctx, fmt)


INT4_AWQ = RecipeEntry(
    "int4_awq",
    "AWQ activation-aware scales folded into the preceding RMSNorm / up_proj, then int4 group-wise "
    "(W4A16; compressed-tensors pack-quantized int4)",
    options=Int4Options,
    switches=INT4_SWITCHES,
    linear_format=int4_format,
    granularity=lambda o: f"{int4_granularity(o)} + AWQ scales folded",
    apply=apply_int4_awq,
    needs_calibration=True,
)
