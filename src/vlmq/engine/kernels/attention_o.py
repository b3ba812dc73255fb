"""``vlmq::rope_kv_attention_o_proj``: a decode step's attention and o_proj with nothing between them (issue 17).

At a ~300-token context the decode attention splits each head's cache across programs, and the last program of a
head to arrive combines their partials: a barrier, an atomic and a reload of every partial on the step's critical
path, then the output row, which o_proj's GEMV loads again. Here the attention leaves its partials
(``partials_out``) and o_proj's CUDA-core GEMV combines them as it loads its input row (``gemv(x_partials=...)``,
``partials_triton``): the same arithmetic, one round trip fewer a layer.

Where it applies: o_proj of a BF16 or weight-only model (float rows, no SmoothQuant pre-scale) on the CUDA-core GEMV
(up to ``SUM_MAX_M`` rows, not the int8 weights that take the tensor cores at large K); elsewhere the op runs the
attention (its own combine) and then the GEMV. The attention then splits a head's context into at most
``MAX_PARTIAL_SPLITS`` (the default plan's splits up to 1024 slots; beyond, it would take up to 2 sqrt(blocks)).
Chosen when the engine is built: ``$VLMQ_ATTENTION_COMBINE`` = ``attention`` (the default) or ``o_proj``. Measured
**slower**, so off by default (H200, 2b, batch 1, ``bench_decode_ab.py``, seventeenth session, call 3: ms/token bf16
1.334 → 1.648, int4_wo 1.040 → 1.314, int8_wo 1.116 → 1.182): every o_proj program combines each value it reads:
``MAX_PARTIAL_SPLITS`` masked loads of a maximum, a sum and an accumulator per value, at every K step of its loop, so
the combine the attention did once is done once per program and its dependent loads sit inside the
GEMV's weight stream. It would pay only with the splits' weights made once per (row, head) and a single load per
split and value; kept as the A/B's other arm, with its exactness tests.
"""

from __future__ import annotations

import os

import torch

from vlmq.engine.kernels.attention import COMBINE_SPLITS, launch_decode_attention, rope_kv_decode_attention_reference
from vlmq.engine.kernels.fused import fused_linear_reference
from vlmq.engine.kernels.gemv import A_FLOAT, SUM_MAX_M, gemv, gemv_config, partials_gemv_ok, weight_format
from vlmq.engine.kernels.rope_kv import CACHE_MUTATED, ROPE_KV_SCHEMA, cache_tensors
from vlmq.engine.kv_cache import LayerKV
from vlmq.errors import VlmqError

ATTENTION_COMBINE_ENV = "VLMQ_ATTENTION_COMBINE"
ATTENTION_COMBINES = ("attention", "o_proj")
MAX_PARTIAL_SPLITS = COMBINE_SPLITS  # splits o_proj's loads combine at most (a static loop per loaded value)


def attention_combine() -> str:
    """Where the decode attention's splits are combined: ``$VLMQ_ATTENTION_COMBINE``, ``attention`` by default."""
    value = os.environ.get(ATTENTION_COMBINE_ENV, "attention")
    if value not in ATTENTION_COMBINES:
        raise VlmqError(f"{ATTENTION_COMBINE_ENV}={value!r}: use {' or '.join(ATTENTION_COMBINES)}")
    return value


def rope_kv_attention_o_proj_reference(
    q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, slot, token_type, key_valid, weight, scale, zero,
    group_size, bias, residual,
):  # fmt: skip
    """``rope_kv_decode_attention`` then o_proj with the residual add (``fused_linear``), the unfused arithmetic:
    q/k/v [B, 1, heads * D] raw projections, residual [B, hidden]; output [B, hidden] in the residual's dtype."""
    out = rope_kv_decode_attention_reference(
        q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, slot, token_type, key_valid
    )
    x = out.transpose(1, 2).reshape(out.shape[0], -1)
    return fused_linear_reference(
        x, weight, scale, zero, group_size, bias, None, "bf16", None, 1e-6, None, "none", residual, residual.dtype
    )


rope_kv_attention_o_proj = torch.library.custom_op(
    "vlmq::rope_kv_attention_o_proj",
    rope_kv_attention_o_proj_reference,
    mutates_args=CACHE_MUTATED,
    schema=f"({ROPE_KV_SCHEMA}, Tensor slot, Tensor token_type, Tensor key_valid, Tensor weight, Tensor? scale, "
    "Tensor? zero, SymInt group_size, Tensor? bias, Tensor residual) -> Tensor",
)


@rope_kv_attention_o_proj.register_kernel("cuda")
def _(q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, slot, token_type, key_valid, weight, scale, zero,
      group_size, bias, residual):  # fmt: skip
    return launch_attention_o_proj(
        q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, slot, token_type, key_valid, weight, scale,
        zero, group_size, bias, residual,
    )  # fmt: skip


@rope_kv_attention_o_proj.register_fake
def _(q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, slot, token_type, key_valid, weight, scale, zero,
      group_size, bias, residual):  # fmt: skip
    return residual.new_empty((q.shape[0], weight.shape[0]))


def rope_write_attention_o_proj(q, k, v, cos, sin, kv: LayerKV, slot, token_type, key_valid, o, residual):
    """What the decoder layer calls at decode: ``rope_kv_attention_o_proj`` over a ``LayerKV`` and o_proj's
    ``PackedLinear`` ``o``; residual [B, hidden]."""
    return rope_kv_attention_o_proj(
        q, k, v, cos, sin, *cache_tensors(kv), slot, token_type, key_valid, o.weight, o.scale, o.zero, o.group_size,
        o.bias, residual,
    )  # fmt: skip


def takes_partials(b: int, weight: torch.Tensor, group_size: int, k: int) -> bool:
    """Whether o_proj over ``b`` rows of ``k`` columns can combine the attention's partials itself (the module
    docstring's where)."""
    cfg = gemv_config(weight_format(weight), b, weight.shape[0], k, group_size, A_FLOAT, False, False, False)
    return b <= SUM_MAX_M and partials_gemv_ok(cfg, A_FLOAT, False, None, None)


def launch_attention_o_proj(
    q, k, v, cos, sin, k_cache, v_cache, k_scale, v_scale, tables, slot, token_type, key_valid, weight, scale, zero,
    group_size, bias, residual,
):  # fmt: skip
    """The op's CUDA path (tests run it in Triton's interpreter): the attention's partials into o_proj's GEMV where
    ``takes_partials``, else the attention with its own combine and then the GEMV."""
    b, hq_d = q.shape[0], q.shape[-1]
    rope = (k, v, cos, sin, tables, slot, token_type)
    x = q.new_empty((b, hq_d))  # the attention's output row: only its shape and dtype where the GEMV combines
    linear = dict(residual=residual, out_dtype=residual.dtype)
    if takes_partials(b, weight, group_size, hq_d):
        parts = launch_decode_attention(
            q,
            k_cache,
            v_cache,
            k_scale,
            v_scale,
            key_valid,
            rope=rope,
            partials_out=True,
            max_splits=MAX_PARTIAL_SPLITS,
        )
        return gemv(x, weight, scale, zero, group_size, bias, x_partials=parts, **linear)
    out = launch_decode_attention(q, k_cache, v_cache, k_scale, v_scale, key_valid, rope=rope)
    return gemv(out.reshape(b, hq_d), weight, scale, zero, group_size, bias, **linear)
