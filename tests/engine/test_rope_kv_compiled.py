"""The RoPE + KV-write and fused decode-attention ops inside torch.compile (CPU): Inductor hands them the cache
buffers in place -- no copy of a [B, H, L, D] cache per layer -- and the compiled step computes what the
eager reference computes."""

import pytest
import torch
from torch._inductor.utils import run_and_get_code

from vlmq.engine.kernels import (
    decode_attention,
    rope_kv_reference,
    rope_write_decode_attention,
    rope_write_kv,
)
from vlmq.engine.kernels.attention import decode_attention_reference
from vlmq.engine.kv_cache import StaticKVCache
from vlmq.engine.rope import mrope_cos_sin
from vlmq.engine.types import GENERATED, KVConfig, KVScales

HQ, HKV, D, LENGTH = 6, 2, 32, 4096


def two_ops(q, k, v, cos, sin, kv, slot, token_type, key_valid):
    q_rot = rope_write_kv(q, k, v, cos, sin, kv, slot, token_type)
    return decode_attention(q_rot, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid)


def fused_op(q, k, v, cos, sin, kv, slot, token_type, key_valid):
    return rope_write_decode_attention(q, k, v, cos, sin, kv, slot, token_type, key_valid)


def step(attend, qkv, cos, sin, kv, slot, token_type, key_valid):
    q, k, v = qkv.split([HQ * D, HKV * D, HKV * D], dim=-1)
    return attend(q, k, v, cos, sin, kv, slot, token_type, key_valid)


def reference_step(qkv, cos, sin, kv, slot, token_type, key_valid):
    q, k, v = qkv.split([HQ * D, HKV * D, HKV * D], dim=-1)
    q_rot = rope_kv_reference(q, k, v, cos, sin, kv, slot, token_type)
    return decode_attention_reference(q_rot, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid)


def cache_of(kind):
    kv = (
        KVConfig()
        if kind == "bf16"
        else KVConfig("fp8", "visual_aware", KVScales(*(torch.full((2, HKV), 0.01) for _ in range(4))))
    )
    return StaticKVCache(
        num_layers=2,
        max_batch_size=2,
        num_kv_heads=HKV,
        max_seq_len=LENGTH,
        head_dim=D,
        dtype=torch.float32,
        device=torch.device("cpu"),
        kv=kv,
    )


@pytest.mark.parametrize("attend", [two_ops, fused_op])
@pytest.mark.parametrize("kind", ["bf16", "fp8"])
def test_compiled_step_writes_the_cache_in_place(attend, kind):
    torch.manual_seed(0)
    cache = cache_of(kind)
    qkv = torch.randn(2, 1, (HQ + 2 * HKV) * D)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, D, 2).float() / D))
    cos, sin = mrope_cos_sin(torch.full((3, 2, 1), 7), inv_freq, [4, 6, 6], torch.float32)
    key_valid = torch.zeros(2, LENGTH, dtype=torch.bool)
    key_valid[:, :8] = True
    args = (cos, sin, torch.tensor([7]), torch.full((2, 1), GENERATED), key_valid)
    torch._dynamo.reset()
    compiled = torch.compile(lambda *a: step(attend, *a), fullgraph=True)
    out, codes = run_and_get_code(compiled, qkv, args[0], args[1], cache.layer(0), *args[2:])
    code = "\n".join(codes)
    assert "clone(" not in code and "copy_(" not in code, "the cache must not be copied"
    ref = reference_step(qkv, args[0], args[1], cache.layer(1), *args[2:])
    torch.testing.assert_close(out, ref)
    for written, expected in zip(cache.layer(0)[:4], cache.layer(1)[:4]):
        if written is not None:
            assert torch.equal(written, expected)
