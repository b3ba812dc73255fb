"""How the compiled engine runs a decoder layer's linears: packs built once from what each linear says it is.

Per projection group of every layer (q/k/v, o, gate/up, down) and for lm_head, from the engine's protocol
(``vlmq.engine.qlinear.linear_format``; never a weight's class name):

- **packed** groups (plain float ``nn.Linear``, ``w8`` and ``w4`` formats, every linear of the group in one
  format): the group's tensors as one ``vlmq.engine.kernels.PackedLinear`` -- q/k/v rows concatenated,
  gate/up rows interleaved (``pack_gate_up``: the layout of the SiLU·mul epilogue). At decode one
  ``vlmq::fused_linear`` computes the group *with* its neighbours: the RMSNorm before q/k/v and gate/up in
  the prologue (for W8A8 also the per-token activation quantization), SiLU·mul after gate/up and the
  residual add after o_proj and down_proj in the epilogue. At prefill (and wherever the kernel cannot
  serve, below) the same arithmetic is composed in torch around the ops the modules call (``w8_matmul``,
  ``w4a16_linear``, ``F.linear``), which pick tensor-core GEMMs for many rows; Inductor fuses the norm and
  the epilogue there.
- packed, composed at decode too: float weights with ``bf16_kernel="cublas"`` (cuBLAS GEMV, norm and
  epilogue as Inductor kernels); W8A8 with one activation scale per *tensor* (the kernel quantizes per
  token); 8-bit formats without hardware on this device (``emulated``: the op's reference arithmetic).
- **modules**: NVFP4 (torchao's module), a group whose linears differ in format (e.g. ``keep=k_proj``):
  the modules are called one by one, the norm and the epilogue composed around them.

The modules' own tensors become views into the packs' buffers (gate/up: row-strided views of the
interleaved buffer; per-row 1-D tensors keep their own small copies, as the kernels read those
contiguously), so no weight is stored twice and the eager path (the modules) still computes the same
arithmetic through the same ops.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from vlmq.engine.kernels import PackedLinear, concat_packs, pack_gate_up, rms_norm_reference, run_packed, w4a16_linear
from vlmq.engine.kernels.fused import (
    A_MODE_CODES,
    RowMaxGather,
    row_max_mode,
    row_max_setting,
    silu_mul_interleaved,
    takes_row_max,
)
from vlmq.engine.kernels.gemv import forwarded_maxima_at_one_row, row_max_buffers
from vlmq.engine.qformat import LinearFormat, runs_real_on
from vlmq.engine.qlinear import linear_format, w8_matmul
from vlmq.errors import VlmqError

BF16_KERNELS = ("fused", "cublas")  # float linears at decode: vlmq::fused_linear, or cuBLAS + Inductor kernels


class LinearPack(NamedTuple):
    """One projection group as the compiled engine runs it (see the module docstring)."""

    packed: PackedLinear | None  # None: call ``modules``
    fmt: LinearFormat | None  # None: float weights (or a group of mixed formats)
    decode_kernel: bool  # decode through vlmq::fused_linear (norm, activation, residual folded in)
    reference: bool  # 8-bit arithmetic without hardware on this device: the op's reference
    label: str
    modules: tuple = ()


class LayerPacks(NamedTuple):
    qkv: LinearPack
    o: LinearPack
    gate_up: LinearPack
    down: LinearPack
    input_norm: torch.Tensor  # RMSNorm weights (input_layernorm, post_attention_layernorm)
    post_norm: torch.Tensor
    eps: float
    sizes: tuple[int, int, int]  # q, k, v output widths of the qkv group
    # W8A8 with $VLMQ_W8A8_ROW_MAX=gate_up: (this layer's slot, the next layer's) of gemv.row_max_buffers, and the
    # MLP runs at decode as vlmq::fused_mlp; None: gate/up and down as two fused_linear calls
    row_max: tuple[torch.Tensor, torch.Tensor] | None = None
    # W8A8 with $VLMQ_W8A8_ROW_MAX=forward: where each GEMV of the layer gathers the next one's row maxima
    forward: ForwardedMaxima | None = None


class ForwardedMaxima(NamedTuple):
    """A W8A8 layer's row maxima at decode with ``$VLMQ_W8A8_ROW_MAX=forward`` (``fused.fused_linear_gather``): gate/up
    gathers down_proj's as ``vlmq::fused_mlp`` does; o_proj gathers gate/up's and down_proj the next layer's q/k/v's
    where that GEMV's one-row tile would use them (``gemv.forwarded_maxima_at_one_row``: the RMSNorm deferred, the
    rows quantized with maxima of x g p gathered before the norm). Rings of ``gemv.row_max_buffers`` slots over the
    layers, each gatherer zeroing the slot its ring's next gatherer fills (so every slot is zero again before its next
    use)."""

    qkv_rows: torch.Tensor | None  # q/k/v's input maxima, by the layer before's down_proj (first layer: none)
    gate_up_rows: torch.Tensor | None  # gate/up's, by o_proj
    o: RowMaxGather | None  # o_proj's, for gate/up (times post_attention_layernorm's weight and gate/up's pre-scale)
    gate_up: RowMaxGather  # gate/up's, for down_proj (times its pre-scale): this layer's ``row_max`` slots
    down: RowMaxGather | None  # down_proj's, for the next layer's q/k/v (times its input_layernorm and pre-scale)

    def slots(self) -> tuple[torch.Tensor, ...]:
        return tuple(g.slot for g in (self.o, self.gate_up, self.down) if g is not None)


class HeadPack(NamedTuple):
    lm_head: LinearPack
    norm: torch.Tensor  # the decoder's final RMSNorm weight
    eps: float


# ----- running a pack ---------------------------------------------------------------------------------
def run_linear(
    pack: LinearPack,
    x: torch.Tensor,
    *,
    decode: bool,
    norm_weight: torch.Tensor | None = None,
    eps: float = 1e-6,
    act: str = "none",
    residual: torch.Tensor | None = None,
    x_row_max: torch.Tensor | None = None,
    gather: RowMaxGather | None = None,
) -> torch.Tensor:
    """``act(linear(rmsnorm(x))) + residual`` over [..., K] activations; output in x's dtype.

    ``decode``: one vlmq::fused_linear where the pack allows it; otherwise (prefill, or packs the kernel
    cannot serve) the same arithmetic composed around the modules' ops. W8A8 at prefill: the norm and the
    per-token quantization through vlmq::fused_linear too (``normalize_rows``, one program a row), the SiLU·mul and
    the residual add composed around it. Kept over letting Inductor fuse the quantization with the norm and
    SiLU·mul, which was slower end to end on the H200 (docs/benchmarks.md, sixth session): qwen2-vl-2b fp8 prefill
    at batch 16 23.7 ms with it, 29.8 without (same host, same time); qwen2-vl-7b TTFT fp8 / smoothquant 12.47 /
    13.72 with it (bf16 12.01), 13.2 / 14.5 without (bf16 12.1; two calls on different hosts). bench_act_quant.py
    times Inductor's fused SiLU·mul + quantization of down_proj's input alone as the faster one."""
    if decode and pack.decode_kernel:  # (the row maxima: ``ForwardedMaxima``, decode only)
        return run_packed(
            pack.packed, x, norm_weight=norm_weight, eps=eps, act=act, residual=residual, x_row_max=x_row_max,
            gather=gather,
        )  # fmt: skip
    if pack.decode_kernel and pack.packed.a_mode != "bf16":
        y = run_packed(pack.packed, x, norm_weight=norm_weight, eps=eps)
    elif pack.packed is None:
        h = x if norm_weight is None else rms_norm_reference(x, norm_weight, eps)
        outs = [m(h) for m in pack.modules]
        y = F.silu(outs[0]) * outs[1] if act == "silu_mul" else torch.cat(outs, dim=-1)
        return y if residual is None else residual + y
    else:
        y = _packed_matmul(pack, x if norm_weight is None else rms_norm_reference(x, norm_weight, eps))
    y = silu_mul_interleaved(y.reshape(-1, y.shape[-1])).view(*y.shape[:-1], -1) if act == "silu_mul" else y
    return y if residual is None else residual + y


def _packed_matmul(pack: LinearPack, h: torch.Tensor) -> torch.Tensor:
    """The modules' arithmetic (``W8Linear`` / ``W4Linear`` / ``nn.Linear``) over the pack's tensors."""
    p, fmt = pack.packed, pack.fmt
    if fmt is None:
        return F.linear(h, p.weight, p.bias)
    h2 = h.reshape(-1, h.shape[-1])
    if fmt.op == "w8":
        y = w8_matmul(h2, p.weight, p.scale, p.bias, fmt, pack.reference, h.dtype)
    else:
        y = w4a16_linear(h2, p.weight, p.scale, p.zero, p.group_size, p.bias, h.dtype)
    return y.view(*h.shape[:-1], y.shape[-1])


# ----- building packs ---------------------------------------------------------------------------------
def is_plain_float_linear(module) -> bool:
    w = getattr(module, "weight", None)
    return (
        type(module) is torch.nn.Linear
        and type(w) is torch.nn.Parameter
        and w.dtype in (torch.bfloat16, torch.float16, torch.float32)
    )


def _module_pack(module) -> PackedLinear:
    """One linear's tensors as the kernels read them (views, no copy)."""
    fmt = linear_format(module)
    if fmt is None:
        return PackedLinear(module.weight.detach(), None, None, 0, _detached(module.bias), "bf16")
    zero = module.weight_zero_point if fmt.op == "w4" else None
    return PackedLinear(
        module.qweight, module.weight_scale, zero, fmt.group_size or 0, _detached(module.bias), fmt.a_mode or "bf16"
    )


def _detached(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach()


def _share(modules, fused: PackedLinear, interleaved: bool) -> None:
    """Point each module's 2-D tensors (and, when concatenated, its 1-D ones) at its rows of the fused
    buffers, so the old copies are freed. Interleaved 1-D tensors stay the modules' own (kernels read
    per-row vectors contiguously; they are a few KB)."""
    count = len(modules)
    starts = [0]
    for m in modules:
        starts.append(starts[-1] + m.out_features)
    fmt = linear_format(modules[0])
    names = ("weight", "bias") if fmt is None else ("qweight", "weight_scale", "weight_zero_point", "bias")
    fields = {
        "weight": fused.weight,
        "qweight": fused.weight,
        "weight_scale": fused.scale,
        "weight_zero_point": fused.zero,
        "bias": fused.bias,
    }
    for i, m in enumerate(modules):
        for name in names:
            full, own = fields[name], getattr(m, name, None)
            if full is None or own is None or (interleaved and full.dim() == 1):
                continue
            view = full[i::count] if interleaved else full[starts[i] : starts[i + 1]]
            if isinstance(own, torch.nn.Parameter):
                own.data = view
            else:
                setattr(m, name, view)


def _group_label(fmt: LinearFormat | None, decode_kernel: bool, reference: bool, bf16_kernel: str) -> str:
    if fmt is None:
        return "fused-bf16" if decode_kernel else f"{bf16_kernel}-bf16"
    bits = "w8a8" if fmt.a_mode != "bf16" else "w8a16"
    kind = (
        f"w4a16-{'sym' if fmt.symmetric else 'asym'}"
        if fmt.op == "w4"
        else f"{bits}-{fmt.weight.removesuffix('_e4m3')}"
    )
    if reference:
        return f"{kind}-emulated"
    return f"fused-{kind}" if decode_kernel else f"{kind}-per-tensor"


def fuse_group(modules, role: str, device: torch.device, bf16_kernel: str = "fused") -> LinearPack:
    """The pack of one projection group (``role``: qkv, o, gate_up, down or lm_head)."""
    modules = tuple(modules)
    floats = all(is_plain_float_linear(m) for m in modules)
    formats = {linear_format(m) for m in modules}
    fmt = None if floats or len(formats) != 1 else formats.pop()
    if not floats and (fmt is None or fmt.op == "module"):
        real = all(runs_real_on(linear_format(m), device) and getattr(m, "real", True) for m in modules)
        return LinearPack(None, fmt, False, False, "modules" if real else "modules-emulated", modules)
    reference = device.type == "cuda" and any(getattr(m, "reference", False) for m in modules)
    # the kernel quantizes W8A8 activations per token, so one scale per tensor is composed
    per_token = fmt is None or fmt.activation_granularity != "tensor"
    decode_kernel = not reference and per_token and (fmt is not None or bf16_kernel == "fused")
    parts = [_module_pack(m) for m in modules]
    if len(parts) == 1:
        packed = parts[0]
    else:
        packed = pack_gate_up(*parts) if role == "gate_up" else concat_packs(parts)
        _share(modules, packed, interleaved=role == "gate_up")
    return LinearPack(packed, fmt, decode_kernel, reference, _group_label(fmt, decode_kernel, reference, bf16_kernel))


def _eps(norm) -> float:
    return float(getattr(norm, "variance_epsilon", getattr(norm, "eps", 1e-6)))


def layer_packs(layer, device: torch.device, bf16_kernel: str = "fused") -> LayerPacks:
    attn, mlp = layer.self_attn, layer.mlp
    act = type(getattr(mlp, "act_fn", None)).__name__
    if act not in ("SiLU", "SiLUActivation"):  # torch's, transformers' (5.x)
        raise VlmqError(
            f"the compiled engine fuses SiLU·mul, but this model's MLP uses {act}; run it with compile=False"
        )
    groups = {
        "qkv": (attn.q_proj, attn.k_proj, attn.v_proj),
        "o": (attn.o_proj,),
        "gate_up": (mlp.gate_proj, mlp.up_proj),
        "down": (mlp.down_proj,),
    }
    packs = {role: fuse_group(ms, role, device, bf16_kernel) for role, ms in groups.items()}
    sizes = (attn.q_proj.out_features, attn.k_proj.out_features, attn.v_proj.out_features)
    return LayerPacks(
        **packs,
        input_norm=layer.input_layernorm.weight.detach(),
        post_norm=layer.post_attention_layernorm.weight.detach(),
        eps=_eps(layer.input_layernorm),
        sizes=sizes,
    )


def check_bf16_kernel(bf16_kernel: str) -> None:
    if bf16_kernel not in BF16_KERNELS:
        raise VlmqError(f"unknown bf16 kernel {bf16_kernel!r}; choose from: {', '.join(BF16_KERNELS)}")


# the decode label's note for W8A8 layers whose down_proj rows take gate/up's row maxima (vlmq::fused_mlp), where it
# runs on the CUDA cores (gemv.row_max_on_cuda_cores): fp8 labels carry it by default, smoothquant's forward_label's
# ($VLMQ_W8A8_ROW_MAX=kernel: neither)
ROW_MAX_LABEL = ", down_proj by gate/up's row maxima"


def build_packs(decoder, *, bf16_kernel: str = "fused") -> tuple[list[LayerPacks], HeadPack, str]:
    """(per-layer packs, head pack, label) for a ``vlmq.engine.decoder.TextDecoder``'s layers and lm_head.

    ``bf16_kernel``: float linears at decode through ``fused`` (vlmq::fused_linear, the default) or
    ``cublas`` (cuBLAS, with the norm and epilogues as separate Inductor kernels). The label names every
    pack kind in use, e.g. ``fused-w8a16-int8`` or ``fused-w8a16-int8+fused-w4a16-asym`` (keep8), and the
    lm_head's when it differs: ``fused-w4a16-asym, lm_head fused-bf16``.
    """
    check_bf16_kernel(bf16_kernel)
    device = decoder.embed_tokens.weight.device
    layers = with_row_max([layer_packs(layer, device, bf16_kernel) for layer in decoder.layers], device)
    head = HeadPack(
        fuse_group((decoder.lm_head,), "lm_head", device, bf16_kernel), decoder.norm.weight.detach(), _eps(decoder.norm)
    )
    labels = dict.fromkeys(getattr(p, role).label for p in layers for role in ("qkv", "o", "gate_up", "down"))
    label = "+".join(labels)
    if head.lm_head.label not in labels:
        label += f", lm_head {head.lm_head.label}"
    if layers and layers[0].row_max is not None:
        label += forward_label(layers[0].forward) if layers[0].forward is not None else ROW_MAX_LABEL
    return layers, head, label


def forward_label(forward: ForwardedMaxima) -> str:
    """The decode label's note with ``$VLMQ_W8A8_ROW_MAX=forward``: which rows take forwarded maxima."""
    normed = [name for name, gather in (("gate/up", forward.o), ("q/k/v", forward.down)) if gather is not None]
    return f", down_proj{''.join(f', {n}' for n in normed)} rows by forwarded maxima (RMSNorm deferred)"


def with_row_max(layers: list[LayerPacks], device: torch.device) -> list[LayerPacks]:
    """``layers`` with row-maximum slots (``vlmq::fused_mlp`` at decode) where the row-maximum mode of their
    activations (``fused.row_max_mode``: ``$VLMQ_W8A8_ROW_MAX`` or the measured one) is ``gate_up`` or ``forward``
    and every layer's gate/up and down packs take them: all or none, since each layer's gate/up zeroes the next
    layer's slot (``gemv.row_max_buffers``); with ``forward`` and every layer's q/k/v and o packs of the same W8A8
    kind, also the maxima of the rows q/k/v and gate/up quantize (``with_forwarded_maxima``)."""
    if row_max_setting() == "kernel" or len(layers) < 2:
        return layers
    if not all(
        p.gate_up.decode_kernel and p.down.decode_kernel and takes_row_max(p.gate_up.packed, p.down.packed)
        for p in layers
    ):
        return layers
    mode = row_max_mode(layers[0].gate_up.packed.a_mode)
    slots = row_max_buffers(len(layers), device)
    layers = [p._replace(row_max=(slots[i], slots[(i + 1) % len(slots)])) for i, p in enumerate(layers)]
    if mode != "forward" or not all(
        p.qkv.decode_kernel
        and p.o.decode_kernel
        and takes_row_max(p.qkv.packed, p.o.packed)
        and p.qkv.packed.a_mode == p.gate_up.packed.a_mode
        for p in layers
    ):
        return layers
    return with_forwarded_maxima(layers, device)


def norm_pre_scale(norm_weight: torch.Tensor, pack: PackedLinear) -> torch.Tensor:
    """What a W8A8 GEMV's rows are multiplied by before their maxima where it defers its RMSNorm: the norm's weight
    times the pack's SmoothQuant pre-scale, in fp32 (no rounding: the kernel's values x g p are fp32)."""
    scale = norm_weight.float()
    return scale * pack.pre_scale.float() if pack.pre_scale is not None else scale.contiguous()


def with_forwarded_maxima(layers: list[LayerPacks], device: torch.device) -> list[LayerPacks]:
    """``layers`` (with their ``row_max`` slots, gate/up's ring) with ``ForwardedMaxima`` where q/k/v's or gate/up's
    one-row tile uses them in every layer: o_proj of layer l gathers into slot l of a ring for gate/up, down_proj
    into slot l + 1 of another for q/k/v (the last layer's into slot 0, which no q/k/v reads: the first layer's input
    is the embedding). Neither: ``layers`` as they were (``gate_up``'s form)."""
    a_mode = A_MODE_CODES[layers[0].gate_up.packed.a_mode]

    def used(role: str) -> bool:
        packs = [getattr(p, role).packed for p in layers]
        return all(forwarded_maxima_at_one_row(q.weight, a_mode, q.pre_scale is not None, role) for q in packs)

    qkv_used, gate_up_used = used("qkv"), used("gate_up")
    if not (qkv_used or gate_up_used):
        return layers
    count = len(layers)
    post = row_max_buffers(count, device) if gate_up_used else None
    inputs = row_max_buffers(count, device) if qkv_used else None
    out = []
    for i, p in enumerate(layers):
        nxt, j, k = layers[(i + 1) % count], (i + 1) % count, (i + 2) % count
        o = RowMaxGather(post[i], post[j], norm_pre_scale(p.post_norm, p.gate_up.packed)) if post else None
        down = RowMaxGather(inputs[j], inputs[k], norm_pre_scale(nxt.input_norm, nxt.qkv.packed)) if inputs else None
        forward = ForwardedMaxima(
            qkv_rows=inputs[i] if inputs and i else None,
            gate_up_rows=post[i] if post else None,
            o=o,
            gate_up=RowMaxGather(p.row_max[0], p.row_max[1], p.down.packed.pre_scale),
            down=down,
        )
        out.append(p._replace(forward=forward))
    return out


def row_max_slots(layers: list[LayerPacks]) -> list[torch.Tensor]:
    """Every row-maximum slot the layers' decode GEMVs gather into (``row_max``, ``ForwardedMaxima``)."""
    slots = []
    for p in layers:
        if p.forward is not None:
            slots += p.forward.slots()
        elif p.row_max is not None:
            slots.append(p.row_max[0])
    return slots
