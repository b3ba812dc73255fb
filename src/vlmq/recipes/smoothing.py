"""Per-channel smoothing folded into the preceding op (SmoothQuant, AWQ): the mappings, the statistics, the fold.

A mapping is one op whose output channels feed some linears (llm-compressor's mappings, the same as
AutoAWQ's and TensorRT-LLM's for Qwen2):

- ``attn_in``:  input_layernorm          -> q_proj, k_proj, v_proj
- ``attn_out``: v_proj                   -> o_proj   (only where v_proj's width equals o_proj's input;
  Qwen2-VL uses grouped-query attention, so v_proj is narrower and the mapping is skipped, as
  llm-compressor and AutoAWQ skip it)
- ``mlp_in``:   post_attention_layernorm -> gate_proj, up_proj
- ``mlp_out``:  up_proj                  -> down_proj

A scale vector ``s`` (one per channel, shared by all linears of the mapping) is folded exactly: the
op's output channels are divided by ``s`` (RMSNorm weight, or the rows and bias of v_proj / up_proj)
and the balance linears' input columns multiplied by ``s``. The float model computes the same function
(up to BF16 rounding of the folded weights); nothing is left to multiply at run time, so the
quantized model is exactly the model a server loads.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

from vlmq.models import decoder_layers

# site -> (the op whose outputs are divided, the linears whose inputs are multiplied)
SITES = {
    "attn_in": ("input_layernorm", ("q_proj", "k_proj", "v_proj")),
    "attn_out": ("v_proj", ("o_proj",)),
    "mlp_in": ("post_attention_layernorm", ("gate_proj", "up_proj")),
    "mlp_out": ("up_proj", ("down_proj",)),
}
MAPPING_SITES = tuple(SITES)


@dataclass(frozen=True)
class Mapping:
    name: str  # e.g. "layers.3.input_layernorm -> q_proj/k_proj/v_proj"
    smooth: nn.Module  # RMSNorm or the linear whose output rows are divided
    balance: tuple[nn.Linear, ...]  # linears whose input columns are multiplied


def smoothing_mappings(model: nn.Module, sites: tuple[str, ...] = MAPPING_SITES) -> list[Mapping]:
    """The model's mappings at ``sites``, layer by layer, in the order they are folded."""
    out = []
    for i, layer in enumerate(decoder_layers(model)):
        parts = {
            "input_layernorm": layer.input_layernorm,
            "post_attention_layernorm": layer.post_attention_layernorm,
            **{n: getattr(layer.self_attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")},
            **{n: getattr(layer.mlp, n) for n in ("gate_proj", "up_proj", "down_proj")},
        }
        for site in (s for s in MAPPING_SITES if s in sites):
            smooth_name, balance_names = SITES[site]
            smooth, balance = parts[smooth_name], tuple(parts[n] for n in balance_names)
            if _out_width(smooth) == balance[0].in_features:  # not v_proj -> o_proj under GQA
                out.append(Mapping(f"layers.{i}.{smooth_name} -> {'/'.join(balance_names)}", smooth, balance))
    return out


def _out_width(module: nn.Module) -> int:
    return module.out_features if isinstance(module, nn.Linear) else module.weight.shape[0]


@torch.no_grad()
def fold_scales(mapping: Mapping, scales: torch.Tensor) -> None:
    """Divide the smooth op's output channels by ``scales`` and multiply the balance inputs by them."""
    s = scales.float()
    smooth = mapping.smooth
    if isinstance(smooth, nn.Linear):
        smooth.weight.copy_(smooth.weight.float() / s[:, None])
        if smooth.bias is not None:
            smooth.bias.copy_(smooth.bias.float() / s)
    else:
        smooth.weight.copy_(smooth.weight.float() / s)
    for linear in mapping.balance:
        linear.weight.copy_(linear.weight.float() * s[None, :])


@dataclass
class InputStats:
    """Per-channel statistics of one linear's inputs over the calibration tokens."""

    absmax: torch.Tensor | None = None  # [K] max |x|
    abssum: torch.Tensor | None = None  # [K] sum |x|
    count: int = 0  # tokens seen
    samples: list = field(default_factory=list)  # [T_i, K] token rows kept for a loss (AWQ)

    def add(self, x: torch.Tensor, keep_tokens: int) -> None:
        rows = x.detach().reshape(-1, x.shape[-1])
        absx = rows.abs().float()
        amax, asum = absx.amax(dim=0), absx.sum(dim=0)
        self.absmax = amax if self.absmax is None else torch.maximum(self.absmax, amax)
        self.abssum = asum if self.abssum is None else self.abssum + asum
        self.count += rows.shape[0]
        if keep_tokens:
            step = max(1, -(-rows.shape[0] // keep_tokens))
            self.samples.append(rows[::step][:keep_tokens].clone())

    @property
    def absmean(self) -> torch.Tensor:
        return self.abssum / max(self.count, 1)

    def tokens(self) -> torch.Tensor:
        return torch.cat(self.samples, dim=0)


@contextlib.contextmanager
def record_inputs(linears: dict[str, nn.Module], keep_tokens_per_prompt: int = 0):
    """While active, every listed linear's input updates its ``InputStats`` (yielded as {name: stats})."""
    stats = {name: InputStats() for name in linears}
    handles = [
        module.register_forward_pre_hook(lambda _m, args, s=stats[name]: s.add(args[0], keep_tokens_per_prompt))
        for name, module in linears.items()
    ]
    try:
        yield stats
    finally:
        for handle in handles:
            handle.remove()


def collect_input_stats(mappings: list[Mapping], calibrate, keep_tokens_per_prompt: int = 0) -> dict[str, InputStats]:
    """``stats = calibrate(...)``: run the calibration prompts once and return each mapping's input statistics."""
    with record_inputs({m.name: m.balance[0] for m in mappings}, keep_tokens_per_prompt) as stats:
        calibrate()
    return stats
