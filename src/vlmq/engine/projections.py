"""How the compiled decode step runs a layer's linears: fused BF16, 8-bit GEMV, or the model's modules.

Chosen once per engine from the weights a recipe left in the decoder (every layer the same way):

- ``FusedBF16Projections``: plain floating-point ``nn.Linear`` weights. q/k/v and gate/up are
  concatenated into one weight each (one GEMV instead of three/two); the modules' own weights become
  views into the fused buffer, so no memory is duplicated and the modules still compute the same.
- ``W8Projections``: torchao ``Int8Tensor`` (weight-only or dynamic per-token int8 activations, i.e.
  int8_wo and SmoothQuant) or ``Float8Tensor`` (weight-only or dynamic FP8 activations) weights with
  per-row or per-tensor scales. Every call goes to ``vlmq::w8_linear`` (16-row GEMV tiles for decode,
  GEMM tiles for prefill; routing prefill through torchao's modules made Inductor autotune a mixed-dtype
  mm for minutes per shape on the H100). Fused the same way as BF16: the torchao tensors' ``qdata`` and
  ``scale`` are re-pointed to views of the fused buffers.
- ``ModuleProjections`` (vlmq.engine.decoder): anything else (int4 tinygemm, emulated recipes, custom
  modules) — the modules are called as they are.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from vlmq.engine.decoder import ModuleProjections
from vlmq.engine.kernels import GEMV_BLOCK_M, quantize_activation, w8_linear

MAX_GEMV_ROWS = GEMV_BLOCK_M   # rows per call up to which BF16 weights use the Triton GEMV (kernel="triton")


class FusedLinear(NamedTuple):
    """One fused projection; ``sizes`` splits its output back into the original linears."""

    weight: torch.Tensor                 # [N, K] float, or 8-bit qdata
    scale: torch.Tensor | None           # [N] float32 per-row weight scale (8-bit only)
    bias: torch.Tensor | None            # [N]
    pre_scale: torch.Tensor | None       # [K] SmoothQuant activation pre-scale (8-bit only)


class LayerPack(NamedTuple):
    qkv: FusedLinear
    o: FusedLinear
    gate_up: FusedLinear
    down: FusedLinear


def _linears(layer):
    attn, mlp = layer.self_attn, layer.mlp
    return {"qkv": [attn.q_proj, attn.k_proj, attn.v_proj], "o": [attn.o_proj],
            "gate_up": [mlp.gate_proj, mlp.up_proj], "down": [mlp.down_proj]}


def _concat_into_views(parts: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    fused = torch.cat([p.detach().reshape(p.shape[0], -1) if p.dim() > 1 else p.detach() for p in parts], dim=0)
    views, start = [], 0
    for p in parts:
        views.append(fused[start:start + p.shape[0]].view(p.shape))
        start += p.shape[0]
    return fused, views


# ----- BF16 ------------------------------------------------------------------------------------------
def is_plain_float_linear(module) -> bool:
    w = getattr(module, "weight", None)
    return (type(module) is torch.nn.Linear and type(w) is torch.nn.Parameter
            and w.dtype in (torch.bfloat16, torch.float16, torch.float32))


def fuse_float(linears) -> FusedLinear:
    weight, views = _concat_into_views([m.weight for m in linears])
    for m, view in zip(linears, views):
        m.weight.data = view
    bias = None
    if linears[0].bias is not None:
        bias, bviews = _concat_into_views([m.bias for m in linears])
        for m, view in zip(linears, bviews):
            m.bias.data = view
    unit_scale = torch.ones(weight.shape[0], dtype=torch.float32, device=weight.device)
    return FusedLinear(weight, unit_scale, bias, None)


class _Projections:
    """The decoder layer's projections over fused packs; subclasses supply ``_linear`` (one fused matmul)."""

    sizes: tuple[int, int, int]

    def _linear(self, x, lin: FusedLinear):
        raise NotImplementedError

    def qkv(self, layer, pack: LayerPack, h):
        return self._linear(h, pack.qkv).split(self.sizes, dim=-1)

    def o(self, layer, pack: LayerPack, a):
        return self._linear(a, pack.o)

    def mlp(self, layer, pack: LayerPack, h):
        gate, up = self._linear(h, pack.gate_up).chunk(2, dim=-1)
        return self._linear(layer.mlp.act_fn(gate) * up, pack.down)


class FusedBF16Projections(_Projections):
    """Fused float linears through cuBLAS (``F.linear``), or through the Triton GEMV (``kernel="triton"``,
    the same kernel the 8-bit recipes use, with unit scales) for small M."""

    def __init__(self, q_out: int, kv_out: int, kernel: str = "cublas"):
        self.sizes = (q_out, kv_out, kv_out)
        self.kernel = kernel

    def _linear(self, x, lin: FusedLinear):
        if self.kernel == "triton" and x.numel() // x.shape[-1] <= MAX_GEMV_ROWS:
            y = w8_linear(x.reshape(-1, x.shape[-1]), lin.weight, lin.scale, None, lin.bias, x.dtype)
            return y.view(*x.shape[:-1], y.shape[-1])
        return F.linear(x, lin.weight, lin.bias)



# ----- 8-bit -----------------------------------------------------------------------------------------
def w8_activation_mode(weight) -> str | None:
    """'bf16' / 'int8' / 'fp8' for torchao tensors this GEMV computes exactly, else None."""
    name = type(weight).__name__
    if name == "Int8Tensor":
        zero_point = getattr(weight, "zero_point", None)
        if weight.qdata.dim() != 2 or getattr(weight, "act_quant_scale", None) is not None \
                or (zero_point is not None and bool(zero_point.any())):    # symmetric only
            return None
        if weight.block_size[-1] != weight.qdata.shape[-1]:      # group-wise: not per-row
            return None
        kwargs = weight.act_quant_kwargs
        if kwargs is None:
            return "bf16"
        symmetric = "SYMMETRIC" in str(getattr(kwargs, "mapping_type", "SYMMETRIC"))
        per_row = type(kwargs.granularity).__name__ in ("PerRow", "PerToken")
        return "int8" if symmetric and per_row else None
    if name == "Float8Tensor":
        if weight.qdata.dtype != torch.float8_e4m3fn or weight.scale.numel() not in (1, weight.shape[0]):
            return None
        kwargs = weight.act_quant_kwargs
        if kwargs is None:
            return "bf16"
        ok = kwargs.float8_dtype == torch.float8_e4m3fn and type(kwargs.granularity).__name__ == "PerRow" \
            and kwargs.hp_value_lb is None and kwargs.hp_value_ub is None
        return "fp8" if ok else None
    return None


def fuse_w8(linears) -> FusedLinear:
    weights = [m.weight for m in linears]
    qdata, qviews = _concat_into_views([w.qdata for w in weights])
    scales = [w.scale.float().reshape(-1).expand(w.shape[0]).contiguous() for w in weights]
    scale, sviews = _concat_into_views(scales)
    for w, qv, sv in zip(weights, qviews, sviews):
        w.qdata = qv                                    # the module keeps working, on shared storage
        if w.scale.numel() == w.shape[0] and w.scale.dtype == torch.float32:
            w.scale = sv.view(w.scale.shape)
    bias = None
    if linears[0].bias is not None:
        bias, bviews = _concat_into_views([m.bias for m in linears])
        for m, view in zip(linears, bviews):
            m.bias.data = view
    pre = getattr(weights[0], "act_pre_scale", None)
    return FusedLinear(qdata, scale, bias, pre)


class W8Projections(_Projections):
    def __init__(self, q_out: int, kv_out: int, a_mode: str, dtype: torch.dtype):
        self.sizes = (q_out, kv_out, kv_out)
        self.a_mode = a_mode
        self.dtype = dtype

    def _linear(self, x, lin: FusedLinear):
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if lin.pre_scale is not None:
            x2 = x2 * lin.pre_scale
        xq, xscale = quantize_activation(x2, self.a_mode)
        y = w8_linear(xq, lin.weight, lin.scale, xscale, lin.bias, self.dtype)
        return y.view(*shape[:-1], y.shape[-1])



# ----- choice ----------------------------------------------------------------------------------------
# The kernel fused float linears use at decode: "cublas" (F.linear) or "triton" (the GEMV above, with unit
# scales). cuBLAS measured faster on the H100 (docs/benchmarks.md); benchmarks flip it.
BF16_KERNEL = "cublas"


def build_projections(layers, num_heads: int, num_kv_heads: int, head_dim: int, dtype: torch.dtype):
    """(projections, per-layer packs, label) for the compiled path; packs are None for module calls."""
    q_out, kv_out = num_heads * head_dim, num_kv_heads * head_dim
    groups = [_linears(layer) for layer in layers]
    modules = [m for g in groups for ms in g.values() for m in ms]
    if all(is_plain_float_linear(m) for m in modules):
        packs = [LayerPack(**{k: fuse_float(ms) for k, ms in g.items()}) for g in groups]
        proj = FusedBF16Projections(q_out, kv_out, BF16_KERNEL)
        return proj, packs, "fused-bf16" if BF16_KERNEL == "cublas" else "fused-bf16-triton"
    modes = {w8_activation_mode(getattr(m, "weight", None)) for m in modules if type(m) is torch.nn.Linear}
    if len(modes) == 1 and None not in modes and all(type(m) is torch.nn.Linear for m in modules):
        a_mode = modes.pop()
        packs = [LayerPack(**{k: fuse_w8(ms) for k, ms in g.items()}) for g in groups]
        return W8Projections(q_out, kv_out, a_mode, dtype), packs, f"w8-gemv-{a_mode}"
    return ModuleProjections(), [None] * len(layers), "modules"
