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
    normalize_rows,
    weight_format,
)
from vlmq.engine.kernels.prefill import prefill_linear
from vlmq.engine.kernels.w4 import w4a16_linear_reference
from vlmq.engine.kernels.w8 import quantize_activation, w8_linear_reference
from vlmq.errors import VlmqError

A_MODE_CODES = {"bf16": A_FLOAT, "int8": A_INT8, "fp8": A_FP8}
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
    x, weight, scale, zero, group_size, bias, x_scale, a_mode, norm_weight, eps, pre_scale, act, residual, out_dtype
):
    """The unfused arithmetic ``vlmq::fused_linear`` is tested against (and runs off CUDA): norm → SmoothQuant
    pre-scale → per-token quantization → the plain linear of the weight's format → act → residual, each step as
    the modules do it (the pre-scale as torchao applies ``act_pre_scale``)."""
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
# and ``pre_scale``, inside the kernel).
fused_linear = torch.library.custom_op(
    "vlmq::fused_linear",
    fused_linear_reference,
    mutates_args=(),
    schema="(Tensor x, Tensor weight, Tensor? scale, Tensor? zero, SymInt group_size, Tensor? bias, Tensor? x_scale, "
    "str a_mode, Tensor? norm_weight, float eps, Tensor? pre_scale, str act, Tensor? residual, ScalarType out_dtype) "
    "-> Tensor",
)


@fused_linear.register_kernel("cuda")
def _(x, weight, scale, zero, group_size, bias, x_scale, a_mode, norm_weight, eps, pre_scale, act, residual, out_dtype):
    if x.shape[0] > GEMV_MAX_M:  # prefill: the prologue in one launch, then a tensor-core GEMM
        if x.dtype not in (torch.int8, torch.float8_e4m3fn) and (
            a_mode != "bf16" or norm_weight is not None or pre_scale is not None
        ):
            x, x_scale = normalize_rows(x, norm_weight, eps, pre_scale, A_MODE_CODES[a_mode])
        return epilogue(prefill_linear(x, weight, scale, zero, group_size, bias, x_scale, out_dtype), act, residual)
    return gemv(
        x,
        weight,
        scale,
        zero,
        group_size,
        bias,
        x_scale=x_scale,
        a_mode=A_MODE_CODES[a_mode],
        norm_weight=norm_weight,
        eps=eps,
        pre_scale=pre_scale,
        act=ACTS[act],
        residual=residual,
        out_dtype=out_dtype,
    )


@fused_linear.register_fake
def _(x, weight, scale, zero, group_size, bias, x_scale, a_mode, norm_weight, eps, pre_scale, act, residual, out_dtype):
    n = weight.shape[0]
    return x.new_empty((x.shape[0], n // 2 if act == "silu_mul" else n), dtype=out_dtype)


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
) -> torch.Tensor:
    """``vlmq::fused_linear`` over [..., K] activations (leading dims flattened and restored)."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    r2 = residual.reshape(x2.shape[0], -1) if residual is not None else None
    y = fused_linear(
        x2,
        p.weight,
        p.scale,
        p.zero,
        p.group_size,
        p.bias,
        None,
        p.a_mode,
        norm_weight,
        eps,
        p.pre_scale,
        act,
        r2,
        out_dtype or (x.dtype if x.is_floating_point() else torch.bfloat16),
    )
    return y.view(*lead, y.shape[-1])


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
