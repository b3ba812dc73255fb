"""How the compiled decode step runs a layer's linears: fused packs of one format, or the modules.

Chosen per projection group (q/k/v, o, gate/up, down) of every layer, from what the engine's protocol
says each linear is (``vlmq.engine.qlinear.linear_format``; never a weight's class name):

- plain floating-point ``nn.Linear``: concatenated along N into one weight (one GEMV instead of three or
  two); run through cuBLAS (``F.linear``) or, with ``bf16_kernel="triton"``, through the Triton GEMV the
  8-bit recipes use (unit scales) for small M;
- ``w8`` formats (int8 / FP8 weights, BF16 or dynamic int8 / FP8 activations): concatenated qweights
  and scales, computed by ``qlinear.w8_matmul`` (``vlmq::w8_linear``);
- ``w4`` formats (packed int4, group-wise, integer zero points or symmetric): concatenated along N,
  computed by ``qlinear.w4_matmul`` (``vlmq::w4a16_linear``);
- anything else (NVFP4's torchao module path, custom modules, a group whose linears differ in format,
  e.g. a ``keep=`` list that splits q/k/v): the modules are called one by one and their outputs joined.

The modules' own tensors become views into the fused buffers, so no memory is duplicated and the
modules (the eager path) still compute exactly the same arithmetic through the same functions.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from vlmq.engine.kernels import GEMV_BLOCK_M, w8_linear
from vlmq.engine.qformat import LinearFormat
from vlmq.engine.qlinear import linear_format, w4_matmul, w8_matmul
from vlmq.errors import VlmqError

MAX_GEMV_ROWS = GEMV_BLOCK_M   # rows per call up to which BF16 weights use the Triton GEMV (bf16_kernel="triton")
BF16_KERNELS = ("cublas", "triton")


class FusedLinear(NamedTuple):
    """One matmul over one or more linears of one format, outputs concatenated along N."""

    op: str                              # "float" | "w8" | "w4" | "module"
    weight: torch.Tensor | None          # float [N, K] | 8-bit [N, K] | packed int4 [N, K // 8]
    scale: torch.Tensor | None           # w8: float32 [N]; w4: [N, K // group]; float: unit float32 [N]
    zero: torch.Tensor | None            # w4 asymmetric: int8 [N, K // group]
    bias: torch.Tensor | None            # [N]
    format: LinearFormat | None          # None for float
    reference: bool = False              # w8 without hardware for its format: the op's reference arithmetic
    modules: tuple = ()                  # op "module": the linears, called in order


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
    """Concatenate along dim 0; the parts' views into the result (so owners can share its storage)."""
    fused = torch.cat([p.detach() for p in parts], dim=0)
    views, start = [], 0
    for p in parts:
        views.append(fused[start:start + p.shape[0]])
        start += p.shape[0]
    return fused, views


def _fuse_attr(modules, name: str, as_parameter: bool = False) -> torch.Tensor | None:
    """Concatenate ``name`` of every module and re-point each module's tensor to its view."""
    parts = [getattr(m, name) for m in modules]
    if parts[0] is None:
        return None
    fused, views = _concat_into_views(parts)
    for m, view in zip(modules, views):
        if as_parameter:
            getattr(m, name).data = view
        else:
            setattr(m, name, view)
    return fused


def is_plain_float_linear(module) -> bool:
    w = getattr(module, "weight", None)
    return (type(module) is torch.nn.Linear and type(w) is torch.nn.Parameter
            and w.dtype in (torch.bfloat16, torch.float16, torch.float32))


def fuse_group(modules) -> FusedLinear:
    """The pack of one projection group: fused where every linear has the same fusable format."""
    if all(is_plain_float_linear(m) for m in modules):
        weight = _fuse_attr(modules, "weight", as_parameter=True)
        unit_scale = torch.ones(weight.shape[0], dtype=torch.float32, device=weight.device)
        return FusedLinear("float", weight, unit_scale, None, _fuse_attr(modules, "bias", as_parameter=True), None)
    formats = {linear_format(m) for m in modules}
    fmt = formats.pop() if len(formats) == 1 else None
    if fmt is None or fmt.op == "module" or len({getattr(m, "reference", False) for m in modules}) > 1:
        return FusedLinear("module", None, None, None, None, fmt, modules=tuple(modules))
    bias = _fuse_attr(modules, "bias", as_parameter=True)
    weight, scale = _fuse_attr(modules, "qweight"), _fuse_attr(modules, "weight_scale")
    if fmt.op == "w8":
        return FusedLinear("w8", weight, scale, None, bias, fmt, reference=modules[0].reference)
    return FusedLinear("w4", weight, scale, _fuse_attr(modules, "weight_zero_point"), bias, fmt)


def pack_label(pack: FusedLinear, bf16_kernel: str) -> str:
    if pack.op == "float":
        return "fused-bf16" if bf16_kernel == "cublas" else "fused-bf16-triton"
    if pack.op == "w8":
        return f"w8-gemv-{pack.format.a_mode}" + ("-reference" if pack.reference else "")
    return "w4-gemv" if pack.op == "w4" else "modules"


class Projections:
    """A decoder layer's projections over its packs (``vlmq.engine.decoder`` calls qkv / o / mlp)."""

    def __init__(self, q_out: int, kv_out: int, bf16_kernel: str = "cublas"):
        self.sizes = (q_out, kv_out, kv_out)
        self.bf16_kernel = bf16_kernel

    def linear(self, x: torch.Tensor, lin: FusedLinear) -> torch.Tensor:
        if lin.op == "module":
            return torch.cat([m(x) for m in lin.modules], dim=-1)
        x2 = x.reshape(-1, x.shape[-1])
        if lin.op == "w8":
            y = w8_matmul(x2, lin.weight, lin.scale, lin.bias, lin.format, lin.reference, x.dtype)
        elif lin.op == "w4":
            y = w4_matmul(x2, lin.weight, lin.scale, lin.zero, lin.format.group_size, lin.bias, x.dtype)
        elif self.bf16_kernel == "triton" and x2.shape[0] <= MAX_GEMV_ROWS:
            y = w8_linear(x2, lin.weight, lin.scale, None, lin.bias, x.dtype)
        else:
            return F.linear(x, lin.weight, lin.bias)
        return y.view(*x.shape[:-1], y.shape[-1])

    def qkv(self, layer, pack: LayerPack, h):
        return self.linear(h, pack.qkv).split(self.sizes, dim=-1)

    def o(self, layer, pack: LayerPack, a):
        return self.linear(a, pack.o)

    def mlp(self, layer, pack: LayerPack, h):
        gate, up = self.linear(h, pack.gate_up).chunk(2, dim=-1)
        return self.linear(layer.mlp.act_fn(gate) * up, pack.down)


def build_projections(layers, num_heads: int, num_kv_heads: int, head_dim: int, *, bf16_kernel: str = "cublas"):
    """(projections, per-layer packs, label) for the compiled path.

    ``bf16_kernel``: ``cublas`` (measured faster on the H100, docs/benchmarks.md) or ``triton``.
    The label names every pack kind in use, e.g. ``w8-gemv-int8`` or ``fused-bf16+w8-gemv-bf16`` (keep8).
    """
    if bf16_kernel not in BF16_KERNELS:
        raise VlmqError(f"unknown bf16 kernel {bf16_kernel!r}; choose from: {', '.join(BF16_KERNELS)}")
    packs = [LayerPack(**{k: fuse_group(ms) for k, ms in _linears(layer).items()}) for layer in layers]
    labels = dict.fromkeys(pack_label(p, bf16_kernel) for pack in packs for p in pack)
    return Projections(num_heads * head_dim, num_kv_heads * head_dim, bf16_kernel), packs, "+".join(labels)
