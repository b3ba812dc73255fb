"""GPU checks (run on a lent GPU by benchmarks/gpu_check.sh): Triton kernels vs their references, compiled vs
eager engine."""

import copy

import pytest
import torch

from vlmq.engine import Engine, KVConfig, Prompt

pytestmark = pytest.mark.gpu


def rel_err(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize(
    "a_mode, wdtype",
    [
        ("bf16", torch.int8),
        ("bf16", torch.float8_e4m3fn),
        ("int8", torch.int8),
        ("fp8", torch.float8_e4m3fn),
        ("bf16", torch.bfloat16),
    ],
)
@pytest.mark.parametrize("m, n, k", [(1, 2048, 1536), (5, 1536, 8960), (16, 300, 200)])
def test_w8_gemv_matches_reference(a_mode, wdtype, m, n, k):
    from vlmq.engine.kernels import quantize_activation, w8_linear, w8_linear_reference

    torch.manual_seed(0)
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    if wdtype == torch.int8:
        w = torch.randint(-127, 128, (n, k), device="cuda", dtype=torch.int8)
    else:
        # clamp: float8_e4m3fn casts overflow to NaN, not to +-448
        w = (torch.randn(n, k, device="cuda") * (100 if wdtype != torch.bfloat16 else 1)).clamp(-440, 440).to(wdtype)
    ws = torch.rand(n, device="cuda") * 0.01
    bias = torch.randn(n, device="cuda", dtype=torch.bfloat16)
    xq, xs = quantize_activation(x, a_mode)
    out = w8_linear(xq, w, ws, xs, bias, torch.bfloat16)
    ref = w8_linear_reference(xq, w, ws, xs, bias, torch.bfloat16)
    assert rel_err(out, ref) < 1e-2


@pytest.mark.parametrize(
    "a_mode, wdtype",
    [("bf16", torch.int8), ("bf16", torch.bfloat16), ("int8", torch.int8), ("fp8", torch.float8_e4m3fn)],
)
@pytest.mark.parametrize("split", [2, 4, 8])
def test_split_k_gemv_matches_reference(a_mode, wdtype, split):
    from vlmq.engine.kernels.w8 import launch_w8_gemv, quantize_activation, w8_linear_reference

    torch.manual_seed(0)
    x = torch.randn(3, 8960, device="cuda", dtype=torch.bfloat16)
    w = (
        torch.randint(-127, 128, (1536, 8960), device="cuda", dtype=torch.int8)
        if wdtype == torch.int8
        else (torch.randn(1536, 8960, device="cuda") * 50).clamp(-440, 440).to(wdtype)
    )
    ws, bias = torch.rand(1536, device="cuda") * 0.01, torch.randn(1536, device="cuda", dtype=torch.bfloat16)
    xq, xs = quantize_activation(x, a_mode)
    out = launch_w8_gemv(xq, w, ws, xs, bias, torch.bfloat16, split_k=split)
    assert rel_err(out, w8_linear_reference(xq, w, ws, xs, bias, torch.bfloat16)) < 1e-2


@pytest.mark.parametrize("fp8", [False, True])
@pytest.mark.parametrize("b, length, valid_len", [(1, 400, 300), (4, 8256, 8192)])
def test_decode_attention_kernel_matches_reference(fp8, b, length, valid_len):
    from vlmq.engine.kernels.attention import decode_attention_reference, launch_decode_attention
    from vlmq.engine.kv_cache import quantize_fp8

    torch.manual_seed(0)
    q = torch.randn(b, 12, 1, 128, device="cuda", dtype=torch.bfloat16)
    kf, vf = (torch.randn(b + 1, 2, length, 128, device="cuda") for _ in range(2))
    valid = torch.zeros(b, length, dtype=torch.bool, device="cuda")
    valid[:, :valid_len] = True
    valid[0, 3] = False
    if fp8:
        ks, vs = kf.abs().amax(-1) / 448, vf.abs().amax(-1) / 448
        k, v = quantize_fp8(kf, ks), quantize_fp8(vf, vs)
    else:
        k, v, ks, vs = kf.bfloat16(), vf.bfloat16(), None, None
    out = launch_decode_attention(q, k, v, ks, vs, valid)
    ref = decode_attention_reference(q.float(), k if fp8 else k.float(), v if fp8 else v.float(), ks, vs, valid)
    assert rel_err(out, ref) < 2e-2


@pytest.fixture(scope="module")
def tiny_cuda():
    from vlmq.models import load_model

    return load_model("tiny-mid", device="cuda")


@pytest.mark.parametrize("kv_dtype", ["bf16", "fp8"])
def test_compiled_tokens_match_eager(tiny_cuda, images, kv_dtype):
    kv = KVConfig(dtype=kv_dtype, strategy="dynamic")
    prompts = [Prompt("What is in the image?", images[2]), Prompt("Hello", None)]
    eager = Engine(copy.deepcopy(tiny_cuda), kv=kv, max_batch_size=2)
    compiled = Engine(copy.deepcopy(tiny_cuda), kv=kv, max_batch_size=2, compile=True)
    e_logits, c_logits = eager.next_token_logits(prompts), compiled.next_token_logits(prompts)
    assert torch.nn.functional.cosine_similarity(e_logits, c_logits).min().item() > 0.999
    e_out = eager.generate(prompts, 8, ignore_eos=True)
    c_out = compiled.generate(prompts, 8, ignore_eos=True)
    for e, c in zip(e_out, c_out):  # random weights have near-ties: judge the first tokens
        assert e.token_ids[:3] == c.token_ids[:3]
    assert compiled.compiled.graphs, "decode ran through the captured CUDA graph"


def test_speed_records_on_gpu(tiny_cuda):
    from vlmq.bench.speed import SpeedOptions, run_speed

    rows = run_speed(
        tiny_cuda,
        "bf16",
        "real",
        SpeedOptions(batch_sizes=(1, 2), image_sizes=(224,), new_tokens=8, warmups=1, repeats=2),
    )
    metrics = {(r["task"], r["metric"]): r["value"] for r in rows}
    assert all(r["device"] != "cpu" and r["mode"] == "compiled" for r in rows)
    assert all(r["params"]["vision_path"] == "cuda-graph" for r in rows if r["task"] == "speed")
    assert 0 < metrics[("speed", "decode_ms_per_token")] < 100
    assert metrics[("speed", "static_vram_gb")] > 0 and metrics[("speed", "dynamic_vram_gb")] > 0
    assert 0 < metrics[("speed", "bandwidth_fraction")] < 1.5


def test_vision_and_prefill_graphs_replay_the_same_tokens(tiny_cuda, images):
    """A repeated prompt geometry replays the vision tower and prefill from CUDA graphs (captured on the
    second sighting) and gives the tokens and logits of the first, ungraphed, call."""
    engine = Engine(copy.deepcopy(tiny_cuda), compile=True)
    prompts = [Prompt("What is in the image?", images[2])]
    runs = [engine.generate(prompts, 6, ignore_eos=True)[0] for _ in range(3)]
    assert engine.compiled.vision.note == "cuda-graph" and engine.compiled.vision.graphs.graphs
    assert engine.compiled.prefill_graphs.note == "cuda-graph" and engine.compiled.prefill_graphs.graphs
    assert runs[0].token_ids == runs[1].token_ids == runs[2].token_ids
    eager = Engine(copy.deepcopy(tiny_cuda)).next_token_logits(prompts)
    graphed = engine.next_token_logits(prompts)
    assert torch.nn.functional.cosine_similarity(eager, graphed).min().item() > 0.999
