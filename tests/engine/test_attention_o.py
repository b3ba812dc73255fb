"""vlmq::rope_kv_attention_o_proj's switches and refusals (CPU; its kernels are checked in
test_attention_interpreter.py, test_fused_interpreter.py, test_kernels_sass.py and, on a GPU, test_attention_gpu.py)."""

import pytest
import torch

from vlmq.errors import VlmqError


def test_the_combine_setting_defaults_to_the_attention_and_refuses_unknown_values(monkeypatch):
    from vlmq.engine.kernels.attention_o import attention_combine

    monkeypatch.delenv("VLMQ_ATTENTION_COMBINE", raising=False)
    assert attention_combine() == "attention"
    monkeypatch.setenv("VLMQ_ATTENTION_COMBINE", "o_proj")
    assert attention_combine() == "o_proj"
    monkeypatch.setenv("VLMQ_ATTENTION_COMBINE", "oproj")
    with pytest.raises(VlmqError, match="VLMQ_ATTENTION_COMBINE='oproj': use attention or o_proj"):
        attention_combine()


def test_partials_need_the_fused_attention_and_a_gemv_that_can_read_them():
    from vlmq.engine.kernels.attention import AttentionPartials, launch_decode_attention
    from vlmq.engine.kernels.attention_o import takes_partials
    from vlmq.engine.kernels.gemv import A_INT8, gemv

    q, cache = torch.randn(1, 12, 1, 128).bfloat16(), torch.zeros(1, 2, 64, 128).bfloat16()
    with pytest.raises(VlmqError, match="partials_out needs the fused op"):
        launch_decode_attention(q, cache, cache, None, None, torch.ones(1, 64, dtype=torch.bool), partials_out=True)
    w = torch.randn(1536, 1536).bfloat16()
    parts = AttentionPartials(
        torch.zeros(2, 1, 16, 128), torch.zeros(2, 2, 1, 16), torch.ones(2, dtype=torch.int32), 2, 6, 16, 1, 128
    )
    assert takes_partials(1, w, 0, 1536) and not takes_partials(16, w, 0, 1536)  # batch 16: the tensor cores
    with pytest.raises(VlmqError, match="a GEMV over attention partials takes float rows"):
        gemv(torch.empty(16, 1536).bfloat16(), w, x_partials=parts)  # 16 rows: the tensor-core kernel
    with pytest.raises(VlmqError, match="a GEMV over attention partials takes float rows"):
        w8, scale = torch.randint(-127, 128, (1536, 1536), dtype=torch.int8), torch.rand(1536)
        gemv(torch.empty(1, 1536).bfloat16(), w8, scale, a_mode=A_INT8, x_partials=parts)  # W8A8 quantizes its rows
