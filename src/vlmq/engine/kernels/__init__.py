"""vlmq's GPU kernels (Triton), each an opaque ``torch.library`` custom op with a pure-torch reference.

- ``w8``: decode GEMV / prefill path over 8-bit weights (int8 or FP8, W8A16 and W8A8);
- ``w4``: the packed int4 layout (compressed-tensors / GPTQ convention) and the W4A16 linear;
- ``rope_kv``: M-RoPE and the KV-cache write (BF16 or FP8, every scale policy) in one kernel;
- ``attention``: decode attention straight from the static KV cache (BF16 or FP8 entries) in one launch,
  optionally with the step's RoPE + cache write in its prologue.

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
from vlmq.engine.kernels.rope_kv import rope_kv_reference, rope_kv_write, rope_write_kv
from vlmq.engine.kernels.w4 import dequantize_int4, pack_int4, unpack_int4, w4a16_linear, w4a16_linear_reference
from vlmq.engine.kernels.w8 import (
    GEMV_BLOCK_M,
    gemv_split_k,
    quantize_activation,
    w8_linear,
    w8_linear_dequant_mm,
    w8_linear_reference,
)

__all__ = [
    "GEMV_BLOCK_M", "decode_attention", "decode_attention_reference", "dequantize_int4", "gemv_split_k",
    "grouped_attention", "pack_int4", "rope_kv_decode_attention", "rope_kv_reference", "rope_kv_write",
    "rope_write_decode_attention", "rope_write_kv", "unpack_int4", "w4a16_linear", "w4a16_linear_reference",
    "quantize_activation", "w8_linear", "w8_linear_dequant_mm", "w8_linear_reference",
]
