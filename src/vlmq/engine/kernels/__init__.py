"""vlmq's GPU kernels (Triton), each an opaque ``torch.library`` custom op with a pure-torch reference.

- ``w8``: decode GEMV / prefill path over 8-bit weights (int8 or FP8, W8A16 and W8A8);
- ``w4``: the packed int4 layout (compressed-tensors / GPTQ convention) and the W4A16 linear;
- ``attention``: decode attention straight from the static KV cache (BF16 or FP8 entries).

The references run on CPUs and in tests; Triton is imported only where a GPU (or Triton's CPU
interpreter, in tests) runs a kernel.
"""

from vlmq.engine.kernels.attention import decode_attention, decode_attention_reference, grouped_attention
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
    "grouped_attention", "pack_int4", "unpack_int4", "w4a16_linear", "w4a16_linear_reference",
    "quantize_activation", "w8_linear", "w8_linear_dequant_mm", "w8_linear_reference",
]
