"""Range probes: K/V magnitudes per layer, head and token type, and per-channel linear inputs.

Both are observers only (``Engine.observe`` for K/V, forward pre-hooks for linears): the model is never
edited. K is seen after RoPE and before any KV quantization, exactly what the FP8 cache must hold.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict

import torch

from vlmq.engine.types import GENERATED, TEXT, VISUAL

TOKEN_TYPES = {TEXT: "text", VISUAL: "visual", GENERATED: "generated"}
PERCENTILES = (0.99, 0.999)
MAX_KEPT_VALUES = 1 << 20  # per (layer, tensor, token type) and head: beyond this, percentiles come from a sample


def values_by_token_type(x: torch.Tensor, token_type: torch.Tensor) -> dict[int, torch.Tensor]:
    """[B, H, T, D] and [B, T] -> {token type: [H, N*D] float32 |x|} for the types present."""
    per_position = x.detach().abs().float().permute(0, 2, 1, 3)  # [B, T, H, D]
    out = {}
    for kind in TOKEN_TYPES:
        mask = (token_type == kind).to(x.device)
        if bool(mask.any()):
            rows = per_position[mask]  # [N, H, D]
            out[kind] = rows.permute(1, 0, 2).reshape(rows.shape[1], -1)
    return out


class KVRangeProbe:
    """Observer collecting |K| and |V| per (layer, tensor, token type) and head; exact absmax always,
    exact percentiles while fewer than ``max_kept`` values were seen (then a seeded random sample)."""

    def __init__(self, max_kept: int = MAX_KEPT_VALUES):
        self.max_kept = max_kept
        self._values: dict[tuple[int, str, int], list[torch.Tensor]] = defaultdict(list)
        self._absmax: dict[tuple[int, str, int], torch.Tensor] = {}
        self._generator = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def __call__(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor, token_type: torch.Tensor) -> None:
        for name, x in (("k", k), ("v", v)):
            for kind, values in values_by_token_type(x, token_type).items():
                key = (layer_idx, name, kind)
                amax = values.amax(dim=1).cpu()
                self._absmax[key] = torch.maximum(self._absmax[key], amax) if key in self._absmax else amax
                self._keep(key, values.cpu())

    def _keep(self, key, values: torch.Tensor) -> None:
        kept = self._values[key]
        kept.append(values)
        if sum(t.shape[1] for t in kept) > self.max_kept:
            # halve the sample at random positions: a stride would keep only some head dims, whose
            # ranges differ (RoPE), and bias the percentiles
            values = torch.cat(kept, dim=1)
            keep = torch.randperm(values.shape[1], generator=self._generator)[: values.shape[1] // 2]
            self._values[key] = [values[:, keep.sort().values]]

    def rows(self) -> list[dict]:
        """``kv_ranges.csv`` rows: layer, head, tensor, token_type, absmax, p99, p999, n."""
        rows = []
        for (layer, name, kind), kept in sorted(self._values.items()):
            values = torch.cat(kept, dim=1)
            qs = head_quantiles(values, PERCENTILES)
            for head in range(values.shape[0]):
                rows.append(
                    {
                        "layer": layer,
                        "head": head,
                        "tensor": name,
                        "token_type": TOKEN_TYPES[kind],
                        "absmax": float(self._absmax[(layer, name, kind)][head]),
                        "p99": float(qs[0, head]),
                        "p999": float(qs[1, head]),
                        "n": int(values.shape[1]),
                    }
                )
        return rows


def head_quantiles(values: torch.Tensor, qs: tuple[float, ...]) -> torch.Tensor:
    """[H, N] -> [len(qs), H] linear-interpolated quantiles (torch.quantile's definition); one head at a
    time because torch.quantile refuses inputs over 2**24 values (a head holds at most MAX_KEPT_VALUES)."""
    q = torch.tensor(qs, dtype=values.dtype)
    return torch.stack([torch.quantile(head, q) for head in values], dim=1)


class ActivationProbe:
    """Per-channel absmax of every decoder linear's input (the SmoothQuant premise: a few channels
    carry most of the magnitude). Use as a context manager: hooks are removed on exit."""

    def __init__(self, model):
        from vlmq.models import is_decoder_linear

        self.model = model
        self.targets = [(fqn, m) for fqn, m in model.named_modules() if is_decoder_linear(m, fqn)]
        self.channel_absmax: dict[str, torch.Tensor] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        for fqn, module in self.targets:
            handle = module.register_forward_pre_hook(self._hook(fqn))
            self._stack.callback(handle.remove)
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def _hook(self, fqn: str):
        def record(_module, args):
            x = args[0].detach().abs().float().reshape(-1, args[0].shape[-1]).amax(dim=0).cpu()
            prev = self.channel_absmax.get(fqn)
            self.channel_absmax[fqn] = x if prev is None else torch.maximum(prev, x)

        return record

    def rows(self, top: int = 5, outlier_ratio: float = 20.0) -> list[dict]:
        """``activation_outliers.csv`` rows: the top channels' absmax against the median channel."""
        rows = []
        for fqn, amax in self.channel_absmax.items():
            median = float(amax.median().clamp_min(1e-12))
            values, index = amax.topk(min(top, amax.numel()))
            rows.append(
                {
                    "layer": layer_of(fqn),
                    "module": fqn.rsplit(".", 1)[-1],
                    "channels": amax.numel(),
                    "absmax": float(values[0]),
                    "median_channel_absmax": median,
                    "top_ratio": float(values[0]) / median,
                    "outlier_channels": int((amax > outlier_ratio * median).sum()),
                    "top_channels": ":".join(str(int(i)) for i in index),
                }
            )
        return sorted(rows, key=lambda r: (r["layer"], r["module"]))


def layer_of(fqn: str) -> int:
    """Decoder layer index of ``...layers.<i>.<...>``."""
    parts = fqn.split(".")
    return int(parts[parts.index("layers") + 1])
