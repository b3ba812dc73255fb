"""``$VLMQ_W8A8_ROW_MAX=forward`` on the GPU: W8A8 decode GEMVs whose epilogues gather the next GEMV's row maxima
(``vlmq::fused_linear_gather``), q/k/v and gate/up quantizing their rows with them, their RMSNorms deferred.

Run on the GPU machine: ``python -m pytest -q -s tests/engine/test_forwarded_maxima_gpu.py``.
"""

import os
import sys

import pytest
import torch

from vlmq.engine.graphs import capture_graph
from vlmq.engine.kernels.fused import A_MODE_CODES, fused_linear, fused_linear_gather
from vlmq.engine.kernels.gemv import forwarded_maxima_at_one_row, row_max_buffers

pytestmark = pytest.mark.gpu
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the other GPU tests' helpers

# (hidden, intermediate) of qwen2-vl-2b and -7b
SHAPES = {"2b": (1536, 8960), "7b": (3584, 18944)}
QKV_ROWS = {1536: 2048, 3584: 4608}  # q/k/v rows by hidden size (the query heads and two KV heads of 128)


def layer_weights(mode: str, hidden: int, inter: int, gen: torch.Generator):
    """One W8A8 layer's packs as the engine holds them (per-row scales): q/k/v (the preset's rows), o_proj,
    interleaved gate/up, down_proj, and the two norms."""
    from test_fused_mlp_gpu import mlp_weights

    gu, gu_s, _, down, down_s, _, post_norm = mlp_weights(mode, hidden, inter, False, gen)
    o, o_s = mlp_weights(mode, hidden, hidden, False, gen)[3:5]  # [hidden, hidden]
    qkv, qkv_s = mlp_weights(mode, QKV_ROWS[hidden], hidden, False, gen)[3:5]  # [q/k/v rows, hidden]
    in_norm = (torch.rand(hidden, generator=gen) + 0.5).bfloat16().cuda()
    return qkv, qkv_s, in_norm, o, o_s, gu, gu_s, down, down_s, post_norm


def chain(x, attn, layers, mode, rings, forwarded=True):
    """Each layer's q/k/v (its input norm; past the first layer with the maxima down_proj gathered), o_proj
    (+ residual, from ``attn``: the attention's place; gathering gate/up's maxima), gate/up (reading them, gathering
    down_proj's) and down_proj (+ residual, gathering the next layer's q/k/v's) -- ``$VLMQ_W8A8_ROW_MAX=forward``'s
    launches into ``rings`` (3 slot lists; each launch uses the maxima where its tile would, ``gemv``'s rule);
    ``forwarded`` False: the module arithmetic's ``fused_linear`` calls instead. Returns (the last residual, every
    q/k/v output)."""
    post, mid, inputs = rings or (None, None, None)
    count, bf16 = len(layers), torch.bfloat16
    h, qkvs = x, []
    for i, (qkv, qkv_s, in_norm, o, o_s, gu, gu_s, down, down_s, post_norm) in enumerate(layers):
        nxt, after = (i + 1) % count, (i + 2) % count
        x_row_max = inputs[i] if forwarded and i else None
        qkvs.append(fused_linear(h, qkv, qkv_s, None, 0, None, None, mode, in_norm, 1e-6, None, "none", None, bf16,
                                 x_row_max))  # fmt: skip
        if not forwarded:
            h = fused_linear(attn, o, o_s, None, 0, None, None, mode, None, 1e-6, None, "none", h, bf16)
            m = fused_linear(h, gu, gu_s, None, 0, None, None, mode, post_norm, 1e-6, None, "silu_mul", None, bf16)
            h = fused_linear(m, down, down_s, None, 0, None, None, mode, None, 1e-6, None, "none", h, bf16)
            continue
        h = fused_linear_gather(attn, o, o_s, None, mode, None, 1e-6, None, "none", h, None, post[i], post[nxt],
                                post_norm.float(), bf16)  # fmt: skip
        m = fused_linear_gather(h, gu, gu_s, None, mode, post_norm, 1e-6, None, "silu_mul", None, post[i], mid[i],
                                mid[nxt], None, bf16)  # fmt: skip
        h = fused_linear_gather(m, down, down_s, None, mode, None, 1e-6, None, "none", h, mid[i], inputs[nxt],
                                inputs[after], layers[nxt][2].float(), bf16)  # fmt: skip
    return h, qkvs


@pytest.mark.parametrize("preset", ["2b", "7b"])
@pytest.mark.parametrize("mode", ["int8", "fp8"])
def test_forwarded_rings_replayed_from_a_cuda_graph(preset, mode):
    """Two layers' launches captured in one CUDA graph and replayed with new rows (the largest first): every replay
    equals the same ops run outside the graph on freshly zeroed slots (no maximum carried into a slot's next use, and
    the launches deterministic), and the outputs stay near the module arithmetic's (``fused_linear`` with the norm
    and quantization rounded as the modules round them: where a GEMV uses the maxima its codes differ where the
    bf16-rounded normalized row crosses a rounding boundary; where its tile does not use them -- ``gemv``'s rule,
    ``forwarded_maxima_at_one_row`` -- it equals it bit for bit)."""
    gen = torch.Generator().manual_seed(5)
    hidden, inter = SHAPES[preset]
    layers = [layer_weights(mode, hidden, inter, gen) for _ in range(2)]
    code = A_MODE_CODES[mode]
    qkv_uses = forwarded_maxima_at_one_row(layers[0][0], code, False, "qkv")
    gate_up_uses = forwarded_maxima_at_one_row(layers[0][5], code, False, "gate_up")
    print(f"\n{preset} {mode}: maxima used by q/k/v {qkv_uses}, by gate/up {gate_up_uses}")
    dev = torch.device("cuda")
    rings = [row_max_buffers(2, dev) for _ in range(3)]
    x = torch.zeros(1, hidden, dtype=torch.bfloat16, device=dev)
    attn = torch.zeros_like(x)
    graph, (out, qkvs) = capture_graph(lambda: chain(x, attn, layers, mode, rings))
    for scale in (8.0, 1.0, 0.25):
        x.copy_(torch.randn(1, hidden, generator=gen).mul(scale).bfloat16())
        attn.copy_(torch.randn(1, hidden, generator=gen).bfloat16())
        graph.replay()
        torch.cuda.synchronize()
        fresh_out, fresh_qkvs = chain(x, attn, layers, mode, [row_max_buffers(2, dev) for _ in range(3)])
        assert torch.equal(out, fresh_out) and all(map(torch.equal, qkvs, fresh_qkvs)), scale
        want_out, want_qkvs = chain(x, attn, layers, mode, None, forwarded=False)
        rel = [((a.float() - b.float()).norm() / b.float().norm()).item() for a, b in ((qkvs[1], want_qkvs[1]),
                                                                                      (out, want_out))]  # fmt: skip
        print(f"{preset} {mode} x{scale}: q/k/v, residual relative difference from the module arithmetic {rel}")
        assert torch.equal(qkvs[0], want_qkvs[0]) and max(rel) < 0.05, rel  # the first layer's q/k/v: no maxima
        # the second layer's q/k/v reads the first's residual: equal where neither q/k/v nor gate/up took maxima
        assert torch.equal(qkvs[1], want_qkvs[1]) or qkv_uses or gate_up_uses
        assert torch.equal(out, want_out) or gate_up_uses


@pytest.mark.parametrize("recipe", ["smoothquant", "fp8"])
@pytest.mark.parametrize("batch", [1, 8])
def test_compiled_engine_with_forwarded_maxima_gives_the_same_tokens(recipe, batch, calib):
    """End to end on the toy through the compiled engine's CUDA graphs: ``forward`` chooses ``gate_up``'s (the
    default's) greedy tokens, in no more kernels a step."""
    from test_fused_mlp_gpu import engine_tokens

    want, _, default_kernels = engine_tokens(recipe, batch, "gate_up", calib)
    got, label, kernels = engine_tokens(recipe, batch, "forward", calib)
    rows = lambda names: sum("normalize_rows" in n for n in names)  # noqa: E731
    print(f"\n{recipe} batch {batch}: {label}; kernels a step {len(default_kernels)} -> {len(kernels)}, row kernels "
          f"{rows(default_kernels)} -> {rows(kernels)}")  # fmt: skip
    assert "forwarded maxima" in label
    assert got == want
    assert len(kernels) <= len(default_kernels)


@pytest.fixture(scope="module")
def calib():
    from vlmq.recipes import load_calibration

    return load_calibration("builtin", n=8, languages=("en",), seed=0)
