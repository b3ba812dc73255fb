"""``vlmq::fused_linear``: one projection of a decoder layer with its neighbours folded in (issue 17).

    y = act(rmsnorm(x) @ W^T * scales + bias) + residual

- **RMSNorm prologue** (``norm_weight``, ``eps``): the kernel normalizes its input row itself, and for
  W8A8 also quantizes it per token, so the input_layernorm before q/k/v and the
  post_attention_layernorm before gate/up need no kernel of their own; SmoothQuant's per-channel
  ``pre_scale`` is applied there too (also without a norm, for o_proj and down_proj);
- **SiLU·mul epilogue** (``act="silu_mul"``): gate and up rows interleaved at load (``interleave_rows``:
  gate0, up0, gate1, up1, ...), the output is ``silu(gate) * up`` with N / 2 columns;
- **residual epilogue** (``residual``): ``residual + x @ W^T`` for o_proj and down_proj; the result *is*
  the new residual stream, which the next fused call normalizes in its prologue.

Weights in any vlmq format (gemv.py's list). Up to ``GEMV_MAX_M`` rows the Triton decode kernels run;
beyond, ``normalize_rows`` and prefill.py's GEMMs. ``fused_linear_reference`` is the unfused arithmetic of
the model's own modules (Qwen2's RMSNorm rounds to the activation dtype and multiplies by its weight in
that dtype; W8A8 quantizes that rounded row per token; the MLP applies SiLU to bf16 gate outputs): CPUs
and tests run it. The kernels compute the prologue exactly so (up to the order of the norm's sum of
squares), and differ from it by accumulation order and by the roundings the epilogues skip: the reference
rounds the linear's output to bf16 before SiLU·mul and before the residual add, the kernels keep fp32.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from vlmq.engine.kernels.gemv import (
    A_FLOAT,
    A_FP8,
    A_INT8,
    ACT_NONE,
    ACT_SILU_MUL,
    GEMV_MAX_M,
    W_FLOAT,
    W_INT4,
    gemv,
    interleave_rows,
    measured_choice,
    normalize_rows,
    row_max_on_cuda_cores,
    weight_format,
)
from vlmq.engine.kernels.prefill import prefill_linear
from vlmq.engine.kernels.w4 import w4a16_linear_reference
from vlmq.engine.kernels.w8 import quantize_activation, w8_linear_reference
from vlmq.errors import VlmqError

A_MODE_CODES = {"bf16": A_FLOAT, "int8": A_INT8, "fp8": A_FP8}
# How a W8A8 layer's rows are quantized per token at decode: ``gate_up`` (``vlmq::fused_mlp``: down_proj's with the
# maxima gathered in gate/up's epilogue, no launch of its own, where down_proj runs on the CUDA cores -- one row on
# the 2b, 2% off the H200's fp8 / smoothquant step; elsewhere as ``kernel``), ``kernel`` (``normalize_rows`` between
# gate/up and down_proj, one launch a layer), ``forward`` (as ``gate_up``, and o_proj's and down_proj's epilogues
# gather the maxima gate/up's and the next layer's q/k/v's rows are quantized with, their RMSNorms deferred,
# ``fused_linear_gather``, where that GEMV's one-row tile uses them: ``gemv.uses_forwarded_maxima``, the CUDA-core
# tiles of the 2b q/k/v, which lose their prologue's statistics pass) or ``measured`` (unset: ``ROW_MAX_MEASURED``'s
# mode for the recipe's activations). Read as the compiled engine builds its packs (bench_decode_ab.py --rebuild).
ROW_MAX_ENV = "VLMQ_W8A8_ROW_MAX"
ROW_MAX_MODES = ("measured", "kernel", "gate_up", "forward")
# by W8A8 activation format, measured on the H200 (docs/benchmarks.md, fifty-first session; 2b, batch 1, one-process
# A/Bs against gate_up): int8 forward 0.982x / 0.985x (smoothquant: q/k/v's statistics pass gone, 4.75 -> 3.70 us a
# layer in the fp8 profile); fp8 stays gate_up until its step is timed with q/k/v alone taking forwarded maxima (with
# its gate/up's tensor-core tile taking them too, now off by the rule, 1.055x)
ROW_MAX_MEASURED = {"int8": "forward", "fp8": "gate_up"}
ACTS = {"none": ACT_NONE, "silu_mul": ACT_SILU_MUL}


def rms_norm_reference(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Qwen2RMSNorm's arithmetic: normalize in fp32, round to x's dtype, multiply by the weight."""
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def silu_mul_interleaved(y: torch.Tensor) -> torch.Tensor:
    """[M, 2N] with gate and up columns interleaved → silu(gate) * up, [M, N]."""
    return F.silu(y[:, 0::2]) * y[:, 1::2]


def epilogue(y: torch.Tensor, act: str, residual: torch.Tensor | None) -> torch.Tensor:
    """SiLU·mul, then the residual add, on the linear's output (as the modules do them)."""
    if act == "silu_mul":
        y = silu_mul_interleaved(y)
    return residual + y if residual is not None else y


def fused_linear_reference(
    x,
    weight,
    scale,
    zero,
    group_size,
    bias,
    x_scale,
    a_mode,
    norm_weight,
    eps,
    pre_scale,
    act,
    residual,
    out_dtype,
    x_row_max=None,
):
    """The unfused arithmetic ``vlmq::fused_linear`` is tested against (and runs off CUDA): norm → SmoothQuant
    pre-scale → per-token quantization → the plain linear of the weight's format → act → residual, each step as
    the modules do it (the pre-scale as torchao applies ``act_pre_scale``). ``x_row_max``: the kernels' scratch
    (``fused_linear_gather``), unused here."""
    if norm_weight is not None:
        x = rms_norm_reference(x, norm_weight, eps)
    if pre_scale is not None:
        x = x * pre_scale
    if a_mode != "bf16" and x.is_floating_point() and x.dtype != torch.float8_e4m3fn:
        x, x_scale = quantize_activation(x, a_mode)
    fmt = weight_format(weight)
    if fmt == W_FLOAT and scale is None:
        y = F.linear(x.to(weight.dtype), weight, bias).to(out_dtype)
    elif fmt == W_INT4:
        y = w4a16_linear_reference(x, weight, scale, zero, group_size, bias, out_dtype)
    else:
        y = w8_linear_reference(x, weight, scale, x_scale, bias, out_dtype)
    return epilogue(y, act, residual)


# [M, K] activations (float; or int8 / e4m3 with per-row ``x_scale``) → [M, N] (``act="silu_mul"``: [M, N // 2]).
# ``a_mode`` "bf16" (float activations), "int8" or "fp8" (W8A8: a float x is quantized per token after the norm
# and ``pre_scale``, inside the kernel). ``x_row_max``: W8A8 float rows' maxima gathered by the launch that wrote
# them (``fused_linear_gather``; with a norm, before it: the kernel defers the norm where it can).
fused_linear = torch.library.custom_op(
    "vlmq::fused_linear",
    fused_linear_reference,
    mutates_args=(),
    schema="(Tensor x, Tensor weight, Tensor? scale, Tensor? zero, SymInt group_size, Tensor? bias, Tensor? x_scale, "
    "str a_mode, Tensor? norm_weight, float eps, Tensor? pre_scale, str act, Tensor? residual, ScalarType out_dtype, "
    "Tensor? x_row_max=None) -> Tensor",
)


def launch_fused_linear(
    x,
    weight,
    scale,
    zero,
    group_size,
    bias,
    x_scale,
    a_mode,
    norm_weight,
    eps,
    pre_scale,
    act,
    residual,
    out_dtype,
    x_row_max=None,
    gather: RowMaxGather | None = None,
):
    """``vlmq::fused_linear`` (and ``vlmq::fused_linear_gather`` with ``gather``) on CUDA, and in tests on CPU tensors
    through Triton's interpreter. Past ``GEMV_MAX_M`` rows (prefill) nothing reads or gathers row maxima."""
    if x.shape[0] > GEMV_MAX_M:  # prefill: the prologue in one launch, then a tensor-core GEMM
        if x.dtype not in (torch.int8, torch.float8_e4m3fn) and (
            a_mode != "bf16" or norm_weight is not None or pre_scale is not None
        ):
            x, x_scale = normalize_rows(x, norm_weight, eps, pre_scale, A_MODE_CODES[a_mode])
        return epilogue(prefill_linear(x, weight, scale, zero, group_size, bias, x_scale, out_dtype), act, residual)
    code = A_MODE_CODES[a_mode]
    smooth = pre_scale is not None
    if x_row_max is not None and norm_weight is None and not row_max_on_cuda_cores(weight, x.shape[0], code, smooth):
        x_row_max = None  # a tensor-core tile would quantize the rows in every program: normalize_rows first
    return gemv(
        x,
        weight,
        scale,
        zero,
        group_size,
        bias,
        x_scale=x_scale,
        a_mode=code,
        norm_weight=norm_weight,
        eps=eps,
        pre_scale=pre_scale,
        act=ACTS[act],
        residual=residual,
        out_dtype=out_dtype,
        x_row_max=x_row_max,
        row_max_out=gather.slot if gather else None,
        row_max_pre_scale=gather.pre_scale if gather else None,
        row_max_clear=gather.clear if gather else None,
    )


fused_linear.register_kernel("cuda")(launch_fused_linear)


def output_like(x, weight, act, out_dtype):
    """The fake (meta) output of a fused linear: [M, N], or [M, N // 2] after SiLU·mul."""
    n = weight.shape[0]
    return x.new_empty((x.shape[0], n // 2 if act == "silu_mul" else n), dtype=out_dtype)


@fused_linear.register_fake
def _(x, weight, scale, zero, group_size, bias, x_scale, a_mode, norm_weight, eps, pre_scale, act, residual, out_dtype,
      x_row_max=None):  # fmt: skip
    return output_like(x, weight, act, out_dtype)


class RowMaxGather(NamedTuple):
    """Where a W8A8 decode GEMV gathers its output rows' absolute maxima (``gemv``'s ``row_max_out``): ``slot``
    (fp32, ``GEMV_MAX_M`` values, zero before the launch), ``clear`` (the slot the next launch of its ring gathers
    into, zeroed by this launch's first program) and ``pre_scale`` ([N], or None: what the stored values are
    multiplied by first -- the next linear's SmoothQuant pre-scale, or, in fp32, its RMSNorm weight times it)."""

    slot: torch.Tensor
    clear: torch.Tensor
    pre_scale: torch.Tensor | None


def fused_linear_gather_reference(
    x, weight, scale, bias, a_mode, norm_weight, eps, pre_scale, act, residual, x_row_max, row_max, clear,
    row_max_pre_scale, out_dtype,
):  # fmt: skip
    """``vlmq::fused_linear_gather``'s arithmetic: ``fused_linear_reference`` over 8-bit weights with per-row scales
    (the row-maximum buffers are the kernels' scratch: untouched here)."""
    return fused_linear_reference(
        x, weight, scale, None, 0, bias, None, a_mode, norm_weight, eps, pre_scale, act, residual, out_dtype
    )  # fmt: skip


# A W8A8 decode GEMV whose epilogue also gathers its output rows' maxima for the next W8A8 GEMV (``RowMaxGather``),
# so that one needs no pass over its rows before its first weight tile: o_proj's for gate/up, gate/up's for down_proj,
# down_proj's for the next layer's q/k/v (``$VLMQ_W8A8_ROW_MAX=forward``). Where the next GEMV has an RMSNorm, the
# maxima are of the stored rows times its norm weight and pre-scale (r max|x g p| is the normalized row's maximum,
# r = rsqrt(mean(x^2) + eps) > 0), and that GEMV defers the norm: a value's code, x g p / (max / 448 or 127), does
# not depend on r, which multiplies the sums after the K loop (``gemv_triton.cuda_core_sums``). Not the module's
# rounding: the codes are of x g p in fp32, not of the bf16 normalized row the module quantizes, so near a rounding
# boundary a code can differ by one step from the reference's.
fused_linear_gather = torch.library.custom_op(
    "vlmq::fused_linear_gather",
    fused_linear_gather_reference,
    mutates_args=("row_max", "clear"),
    schema="(Tensor x, Tensor weight, Tensor scale, Tensor? bias, str a_mode, Tensor? norm_weight, float eps, "
    "Tensor? pre_scale, str act, Tensor? residual, Tensor? x_row_max, Tensor(a!) row_max, Tensor(b!) clear, "
    "Tensor? row_max_pre_scale, ScalarType out_dtype) -> Tensor",
)


@fused_linear_gather.register_kernel("cuda")
def fused_linear_gather_kernel(
    x, weight, scale, bias, a_mode, norm_weight, eps, pre_scale, act, residual, x_row_max, row_max, clear,
    row_max_pre_scale, out_dtype,
):  # fmt: skip
    """``vlmq::fused_linear_gather`` on CUDA (and, in tests, on CPU tensors through Triton's interpreter)."""
    return launch_fused_linear(
        x, weight, scale, None, 0, bias, None, a_mode, norm_weight, eps, pre_scale, act, residual, out_dtype,
        x_row_max, RowMaxGather(row_max, clear, row_max_pre_scale),
    )  # fmt: skip


@fused_linear_gather.register_fake
def _(x, weight, scale, bias, a_mode, norm_weight, eps, pre_scale, act, residual, x_row_max, row_max, clear,
      row_max_pre_scale, out_dtype):  # fmt: skip
    return output_like(x, weight, act, out_dtype)


def mlp_composed(linear, x, gu_w, gu_s, gu_b, gu_p, d_w, d_s, d_b, d_p, a_mode, norm_weight, eps, residual, dt):
    """``residual + down(silu_mul(gate_up(rmsnorm(x))))`` as two calls of ``linear`` (``fused_linear`` or its
    reference), 8-bit weights with per-row scales."""
    m = linear(x, gu_w, gu_s, None, 0, gu_b, None, a_mode, norm_weight, eps, gu_p, "silu_mul", None, dt)
    return linear(m, d_w, d_s, None, 0, d_b, None, a_mode, None, eps, d_p, "none", residual, dt)


def fused_mlp_reference(
    x,
    gate_up_weight,
    gate_up_scale,
    gate_up_bias,
    gate_up_pre_scale,
    down_weight,
    down_scale,
    down_bias,
    down_pre_scale,
    a_mode,
    norm_weight,
    eps,
    residual,
    row_max,
    next_row_max,
    out_dtype,
):
    """A W8A8 decoder layer's MLP at decode, ``residual + down(silu_mul(gate_up(rmsnorm(x))))``, as two
    ``fused_linear_reference`` calls (the row-maximum buffers are the kernels' scratch: untouched here)."""
    return mlp_composed(
        fused_linear_reference, x, gate_up_weight, gate_up_scale, gate_up_bias, gate_up_pre_scale, down_weight,
        down_scale, down_bias, down_pre_scale, a_mode, norm_weight, eps, residual, out_dtype,
    )  # fmt: skip


# A W8A8 MLP at decode in two GEMV launches, without the row kernel between them that quantizes down_proj's input
# per token (``normalize_rows``): gate/up's epilogue gathers each output row's absolute maximum into ``row_max``
# (atomic max), and down_proj quantizes its float rows with those maxima tile by tile as it loads them, to the same
# codes. gate/up's first program zeroes ``next_row_max``, the next layer's slot (``gemv.row_max_buffers``: a ring
# of one slot a layer, so every slot is zero again before it is used, inside CUDA graphs, without a memset).
fused_mlp = torch.library.custom_op(
    "vlmq::fused_mlp",
    fused_mlp_reference,
    mutates_args=("row_max", "next_row_max"),
    schema="(Tensor x, Tensor gate_up_weight, Tensor gate_up_scale, Tensor? gate_up_bias, Tensor? gate_up_pre_scale, "
    "Tensor down_weight, Tensor down_scale, Tensor? down_bias, Tensor? down_pre_scale, str a_mode, "
    "Tensor? norm_weight, float eps, Tensor residual, Tensor(a!) row_max, Tensor(b!) next_row_max, "
    "ScalarType out_dtype) -> Tensor",
)


@fused_mlp.register_kernel("cuda")
def fused_mlp_kernels(
    x, gu_w, gu_s, gu_b, gu_p, d_w, d_s, d_b, d_p, a_mode, norm_weight, eps, residual, row_max, next_row_max, dt
):
    """``vlmq::fused_mlp`` on CUDA (and, in tests, on CPU tensors through Triton's interpreter)."""
    # rows beyond the decode kernels (and the slots), or where down_proj would quantize them in every tensor-core
    # program: the two fused_linear launches (normalize_rows between them); the slots stay as they are, zero
    # again by the ring's rule for the steps that use them
    if x.shape[0] > GEMV_MAX_M or not row_max_on_cuda_cores(d_w, x.shape[0], A_MODE_CODES[a_mode], d_p is not None):
        return mlp_composed(
            fused_linear, x, gu_w, gu_s, gu_b, gu_p, d_w, d_s, d_b, d_p, a_mode, norm_weight, eps, residual, dt
        )  # fmt: skip
    return mlp_row_max_launches(
        x, gu_w, gu_s, gu_b, gu_p, d_w, d_s, d_b, d_p, a_mode, norm_weight, eps, residual, row_max, next_row_max, dt
    )  # fmt: skip


def mlp_row_max_launches(
    x, gu_w, gu_s, gu_b, gu_p, d_w, d_s, d_b, d_p, a_mode, norm_weight, eps, residual, row_max, next_row_max, dt
):
    """``vlmq::fused_mlp``'s two GEMVs with the row maxima at any decode row count (its kernel picks where)."""
    code = A_MODE_CODES[a_mode]
    m = gemv(
        x, gu_w, gu_s, bias=gu_b, a_mode=code, norm_weight=norm_weight, eps=eps, pre_scale=gu_p, act=ACT_SILU_MUL,
        out_dtype=dt, row_max_out=row_max, row_max_pre_scale=d_p, row_max_clear=next_row_max,
    )  # fmt: skip
    return gemv(m, d_w, d_s, bias=d_b, a_mode=code, pre_scale=d_p, residual=residual, out_dtype=dt, x_row_max=row_max)


@fused_mlp.register_fake
def _(x, gu_w, gu_s, gu_b, gu_p, d_w, d_s, d_b, d_p, a_mode, norm_weight, eps, residual, row_max, next_row_max, dt):
    return output_like(x, d_w, "none", dt)


class PackedLinear(NamedTuple):
    """A (possibly concatenated) projection as the fused kernels read it, built once at load.

    ``weight``: float [N, K], int8 / e4m3 [N, K] (``scale`` [N] fp32) or packed int4 [N, K // 8]
    (``scale`` / ``zero`` [N, K // group_size]); gate/up packs have their rows interleaved
    (``pack_gate_up``). ``a_mode``: "bf16" for weight-only and BF16, "int8" / "fp8" for W8A8.
    ``pre_scale``: SmoothQuant's per-channel activation smoothing, [K] (None when folded or absent)."""

    weight: torch.Tensor
    scale: torch.Tensor | None
    zero: torch.Tensor | None
    group_size: int
    bias: torch.Tensor | None
    a_mode: str
    pre_scale: torch.Tensor | None = None


def run_packed(
    p: PackedLinear,
    x: torch.Tensor,
    *,
    norm_weight: torch.Tensor | None = None,
    eps: float = 1e-6,
    act: str = "none",
    residual: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
    x_row_max: torch.Tensor | None = None,
    gather: RowMaxGather | None = None,
) -> torch.Tensor:
    """``vlmq::fused_linear`` over [..., K] activations (leading dims flattened and restored); with ``gather`` (a
    W8A8 pack), ``vlmq::fused_linear_gather``. ``x_row_max``: the rows' maxima a launch before gathered."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    r2 = residual.reshape(x2.shape[0], -1) if residual is not None else None
    dt = out_dtype or (x.dtype if x.is_floating_point() else torch.bfloat16)
    if gather is not None:
        y = fused_linear_gather(
            x2, p.weight, p.scale, p.bias, p.a_mode, norm_weight, eps, p.pre_scale, act, r2, x_row_max, gather.slot,
            gather.clear, gather.pre_scale, dt,
        )  # fmt: skip
    else:
        y = fused_linear(
            x2, p.weight, p.scale, p.zero, p.group_size, p.bias, None, p.a_mode, norm_weight, eps, p.pre_scale, act,
            r2, dt, x_row_max,
        )  # fmt: skip
    return y.view(*lead, y.shape[-1])


def run_mlp_row_max(
    gate_up: PackedLinear,
    down: PackedLinear,
    x: torch.Tensor,
    *,
    norm_weight: torch.Tensor,
    eps: float,
    residual: torch.Tensor,
    row_max: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """``vlmq::fused_mlp`` over [..., K] activations (leading dims flattened and restored): ``row_max`` is the
    layer's (slot, next slot) of ``gemv.row_max_buffers``."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    y = fused_mlp(
        x2,
        gate_up.weight,
        gate_up.scale,
        gate_up.bias,
        gate_up.pre_scale,
        down.weight,
        down.scale,
        down.bias,
        down.pre_scale,
        gate_up.a_mode,
        norm_weight,
        eps,
        residual.reshape(x2.shape[0], -1),
        row_max[0],
        row_max[1],
        x.dtype,
    )
    return y.view(*lead, y.shape[-1])


def row_max_setting() -> str:
    """``$VLMQ_W8A8_ROW_MAX`` (``ROW_MAX_MODES``; unset: ``measured``), else a one-line error."""
    return measured_choice(
        ROW_MAX_ENV,
        ROW_MAX_MODES,
        "use measured (the default: by the recipe's activations), gate_up (down_proj's W8A8 rows quantized with the "
        "row maxima gate/up's epilogue gathers), kernel (by normalize_rows) or forward (q/k/v's and gate/up's too, "
        "with maxima the GEMV before gathers)",
    )


def row_max_mode(a_mode: str) -> str:
    """The row-maximum mode of W8A8 layers whose activations are ``a_mode`` (``int8`` / ``fp8``): the setting, or
    where it is ``measured`` the measured one (``ROW_MAX_MEASURED``)."""
    value = row_max_setting()
    return ROW_MAX_MEASURED[a_mode] if value == "measured" else value


def takes_row_max(gate_up: PackedLinear | None, down: PackedLinear | None) -> bool:
    """Whether a layer's gate/up and down packs can run as ``vlmq::fused_mlp``: one W8A8 mode, 8-bit weights with
    per-row scales (the packs' formats; the GEMV checks the rest as it launches)."""
    return (
        gate_up is not None
        and down is not None
        and gate_up.a_mode in ("int8", "fp8")
        and down.a_mode == gate_up.a_mode
        and gate_up.scale is not None
        and down.scale is not None
        and weight_format(gate_up.weight) == weight_format(down.weight)
    )


def pack_gate_up(gate: PackedLinear, up: PackedLinear) -> PackedLinear:
    """gate_proj and up_proj as one pack with rows (and their scales, zeros, biases) interleaved, the
    layout ``act="silu_mul"`` reads. Lossless: a row permutation, done once at load."""
    both = lambda a, b: interleave_rows(a, b) if a is not None else None  # noqa: E731
    return PackedLinear(
        interleave_rows(gate.weight, up.weight),
        both(gate.scale, up.scale),
        both(gate.zero, up.zero),
        gate.group_size,
        both(gate.bias, up.bias),
        gate.a_mode,
        _shared_pre_scale([gate, up]),
    )


def concat_packs(packs: list[PackedLinear]) -> PackedLinear:
    """q, k, v (same format) as one pack: rows, scales, zeros and biases concatenated."""
    cat = lambda ts: torch.cat(ts, dim=0) if ts[0] is not None else None  # noqa: E731
    first = packs[0]
    return PackedLinear(
        cat([p.weight for p in packs]),
        cat([p.scale for p in packs]),
        cat([p.zero for p in packs]),
        first.group_size,
        cat([p.bias for p in packs]),
        first.a_mode,
        _shared_pre_scale(packs),
    )


def _shared_pre_scale(packs: list[PackedLinear]) -> torch.Tensor | None:
    """Linears fused into one GEMV read one input row, so they must smooth it the same way."""
    first = packs[0].pre_scale
    if any(
        (p.pre_scale is None) != (first is None) or (first is not None and not torch.equal(p.pre_scale, first))
        for p in packs
    ):
        raise VlmqError(
            "linears fused into one GEMV have different SmoothQuant pre-scales: fold each into its "
            "weights (llm-compressor's SmoothQuant mappings) or keep them as separate packs"
        )
    return first
