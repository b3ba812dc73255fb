"""vlmq's GPU kernels (Triton), each an opaque ``torch.library`` custom op with a pure-torch reference.

- ``gemv`` (+ ``gemv_triton``): the decode kernels for every weight format, with split K reduced by the
  last-arriving program, an RMSNorm prologue and SiLU·mul / residual epilogues, and ``normalize_rows``
  (RMSNorm, SmoothQuant pre-scale and per-token quantization of the rows, exactly as eager PyTorch);
- ``prefill``: tensor-core GEMMs for long inputs (cuBLAS, ``_int_mm``, ``_scaled_mm``, or Triton);
- ``w8``: 8-bit weights (int8 or FP8, W8A16 and W8A8): activation quantization, reference, ``vlmq::w8_linear``;
- ``w4``: the packed int4 layout (compressed-tensors / GPTQ convention), reference, ``vlmq::w4a16_linear``;
- ``fused``: ``vlmq::fused_linear``, a decoder projection with its norm, activation and residual folded in, and
  ``vlmq::fused_mlp``, a W8A8 MLP whose down_proj rows are quantized with maxima gate/up's epilogue gathers;
- ``rope_kv``: M-RoPE and the KV-cache write (BF16 or FP8, every scale policy) in one kernel
  (``eager_triton``: the device functions that keep kernels bit-exact to eager PyTorch);
- ``attention``: decode attention straight from the static KV cache (BF16 or FP8 entries) in one launch,
  optionally with the step's RoPE + cache write in its prologue; ``attention_o``: the same with o_proj, the
  attention's split combine done in o_proj's GEMV (``partials_triton``).

The references run on CPUs and in tests; Triton is imported only where a GPU (or Triton's CPU
interpreter, in tests) runs a kernel.
"""

from vlmq.engine.kernels.attention import (
    decode_attention,
    decode_attention_reference,
    grouped_attention,
    rope_kv_decode_attention,
    rope_write_decode_attention,
)
from vlmq.engine.kernels.attention_o import attention_combine, rope_kv_attention_o_proj, rope_write_attention_o_proj
from vlmq.engine.kernels.fused import (
    PackedLinear,
    concat_packs,
    fused_linear,
    fused_linear_reference,
    pack_gate_up,
    rms_norm_reference,
    run_mlp_row_max,
    run_packed,
)
from vlmq.engine.kernels.gemv import GEMV_MAX_M, interleave_rows
from vlmq.engine.kernels.rope_kv import rope_kv_reference, rope_kv_write, rope_write_kv
from vlmq.engine.kernels.w4 import dequantize_int4, pack_int4, unpack_int4, w4a16_linear, w4a16_linear_reference
from vlmq.engine.kernels.w8 import (
    GEMV_BLOCK_M,
    quantize_activation,
    w8_linear,
    w8_linear_dequant_mm,
    w8_linear_reference,
)

__all__ = [
    "GEMV_BLOCK_M",
    "GEMV_MAX_M",
    "PackedLinear",
    "attention_combine",
    "concat_packs",
    "decode_attention",
    "decode_attention_reference",
    "dequantize_int4",
    "fused_linear",
    "fused_linear_reference",
    "grouped_attention",
    "interleave_rows",
    "pack_gate_up",
    "pack_int4",
    "quantize_activation",
    "rms_norm_reference",
    "run_mlp_row_max",
    "rope_kv_attention_o_proj",
    "rope_kv_decode_attention",
    "rope_kv_reference",
    "rope_kv_write",
    "rope_write_attention_o_proj",
    "rope_write_decode_attention",
    "rope_write_kv",
    "run_packed",
    "unpack_int4",
    "w4a16_linear",
    "w4a16_linear_reference",
    "w8_linear",
    "w8_linear_dequant_mm",
    "w8_linear_reference",
]
