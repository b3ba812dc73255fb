"""vlmq's custom ops are each built from their pure-torch reference (the kernel every device but CUDA runs)
with a CUDA kernel registered apart: a missing registration would make CUDA run the reference silently."""

import pytest
import torch

import vlmq.engine.kernels  # noqa: F401  (registers the ops)

OPS = ["fused_linear", "w8_linear", "w4a16_linear", "decode_attention", "rope_kv_decode_attention", "rope_kv_write"]


@pytest.mark.parametrize("name", OPS)
def test_every_op_has_a_cuda_kernel_a_reference_and_a_fake(name):
    qualified = f"vlmq::{name}"
    for key in ("CUDA", "CompositeExplicitAutograd", "Meta"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(qualified, key), (qualified, key)
