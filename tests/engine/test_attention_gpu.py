"""GPU checks of the attention-side kernels at the qwen2-vl-2b and -7b shapes (bf16): RoPE + KV write bit-exact
against eager ``apply_rope`` + ``write_kv``; decode attention in one launch against the reference and the
two-launch scheme (bit-identical, stable over repeats: a race would move it); the fused RoPE + write +
attention; kernel counts per op (profiler); replay from a CUDA graph; the fused, compiled vision tower."""

import pytest
import torch

from vlmq.engine.kernels.attention import (
    attention_plan,
    attention_splits,
    decode_attention_reference,
    head_counters,
    launch_decode_attention,
)
from vlmq.engine.kernels.rope_kv import launch_rope_kv, rope_kv_reference
from vlmq.engine.kv_cache import StaticKVCache
from vlmq.engine.rope import mrope_cos_sin
from vlmq.engine.types import KVConfig, KVScales

pytestmark = pytest.mark.gpu

SHAPES = {"2b": (12, 2), "7b": (28, 4)}  # (query heads, KV heads), head_dim 128
STRATEGIES = ("bf16", "static", "per_head", "visual_aware", "dynamic")
D = 128


def rel_err(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def make_cache(strategy, rows, hkv, length, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    scales = KVScales(*(torch.rand(1, hkv, generator=g, device="cuda").cpu() * 0.02 + 0.004 for _ in range(4)))
    kv = KVConfig.for_kind(strategy, scales)
    cache = StaticKVCache(
        num_layers=1,
        max_batch_size=rows,
        num_kv_heads=hkv,
        max_seq_len=length,
        head_dim=D,
        dtype=torch.bfloat16,
        device=torch.device("cuda"),
        kv=kv,
    )
    for t in (*cache.k, *cache.v):
        if strategy == "bf16":
            t.copy_(torch.randn(t.shape, generator=g, device="cuda"))
        else:  # valid e4m3 bits (no NaN pattern)
            values = (torch.randn(t.shape, generator=g, device="cuda") * 100).clamp(-448, 448)
            t.copy_(values.to(torch.float8_e4m3fn).view(torch.uint8))
    for t in (*cache.k_scale, *cache.v_scale):
        t.copy_(torch.rand(t.shape, generator=g, device="cuda") * 0.01 + 0.001)
    return cache


def projections(b, t, hq, hkv, seed=1):
    g = torch.Generator(device="cuda").manual_seed(seed)
    qkv = (torch.randn(b, t, (hq + 2 * hkv) * D, generator=g, device="cuda") * 3).bfloat16()
    q, k, v = qkv.split([hq * D, hkv * D, hkv * D], dim=-1)
    inv_freq = 1.0 / (1e6 ** (torch.arange(0, D, 2, device="cuda").float() / D))
    positions = torch.randint(0, 8000, (3, b, t), generator=g, device="cuda")
    cos, sin = mrope_cos_sin(positions, inv_freq, [16, 24, 24], torch.bfloat16)
    token_type = torch.randint(-1, 3, (b, t), generator=g, device="cuda")
    return q, k, v, cos, sin, token_type


def mismatch(got, want) -> str:
    """Where two tensors that should be equal differ (pytest's repr of bf16 tensors shows only corners)."""
    diff = got.float() != want.float()
    return (
        f"{int(diff.sum())} of {diff.numel()} elements differ, max |diff| "
        f"{(got.float() - want.float()).abs().max().item():.3g}"
    )


def state(cache):
    return [x.clone() for x in (*cache.k, *cache.v, *cache.k_scale, *cache.v_scale)]


@pytest.mark.parametrize("model", SHAPES)
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("b, t", [(16, 1), (2, 300)])  # a decode step; a prefill
def test_rope_kv_write_is_bit_exact_on_gpu(model, strategy, b, t):
    hq, hkv = SHAPES[model]
    q, k, v, cos, sin, token_type = projections(b, t, hq, hkv)
    write_pos = torch.arange(t, device="cuda") + 5
    ref_cache, cache = make_cache(strategy, b + 1, hkv, t + 8), make_cache(strategy, b + 1, hkv, t + 8)
    ref_q = rope_kv_reference(q, k, v, cos, sin, ref_cache.layer(0), write_pos, token_type)
    kv = cache.layer(0)
    out = launch_rope_kv(
        q, k, v, cos, sin, kv.k, kv.v, kv.k_scale, kv.v_scale, list(kv.tables or ()), write_pos, token_type
    )
    assert torch.equal(out.transpose(1, 2), ref_q), mismatch(out.transpose(1, 2), ref_q)
    for got, want in zip(state(cache), state(ref_cache)):
        assert torch.equal(got, want), mismatch(got, want)


def first_differences(got, want, names, limit=4) -> str:
    """Which cache tensors differ and where: per tensor its name, the count and the first ``limit`` flat indices with
    both values (bytes for FP8 entries), so a GPU log says what to look for."""
    out = []
    for name, g, w in zip(names, got, want):
        diff = (g != w).flatten().nonzero().flatten()
        if len(diff):
            pairs = [(int(i), g.flatten()[i].item(), w.flatten()[i].item()) for i in diff[:limit]]
            out.append(f"{name}: {len(diff)} differ, (index, kernel, eager) {pairs}")
    return "; ".join(out)


@pytest.mark.parametrize("model", SHAPES)
@pytest.mark.parametrize("strategy", ["static", "dynamic"])
@pytest.mark.parametrize("b, t", [(16, 1), (2, 300)])
def test_rope_kv_write_keeps_signed_zeros_on_gpu(model, strategy, b, t):
    """Exact zeros of both signs in V (written unrotated) and K: eager writes -0 as the FP8 code 0x80. Under Triton
    3.6 a float's unary minus is 0 - x, which loses the sign of a zero: ``exact_quotient``'s -q wrote V's -0 as 0x00
    (the residual is now fma(q, -d, x), twenty-first session), and ``rotate_rows``' -sin made a rotated K at angle 0
    (cos 1, sin +0; the 2b 2 x 300 draw has one) -0 where eager gives +0 (the sign is now flipped by a product,
    twenty-third session). The test names the tensor and the bytes that differ, and the rotation's inputs there."""
    hq, hkv = SHAPES[model]
    q, k, v, cos, sin, token_type = projections(b, t, hq, hkv)
    v[..., 1:3], v[..., 3], k[..., 0], k[..., D // 2] = -0.0, 0.0, -0.0, -0.0
    write_pos = torch.arange(t, device="cuda") + 5
    ref_cache, cache = make_cache(strategy, b + 1, hkv, t + 8), make_cache(strategy, b + 1, hkv, t + 8)
    rope_kv_reference(q, k, v, cos, sin, ref_cache.layer(0), write_pos, token_type)
    kv = cache.layer(0)
    launch_rope_kv(q, k, v, cos, sin, kv.k, kv.v, kv.k_scale, kv.v_scale, list(kv.tables or ()), write_pos, token_type)
    assert (ref_cache.v[0][:b, 0, 5 : 5 + t, 1:3] == 0x80).all(), "eager no longer writes -0 as 0x80: update the test"
    names = ("k", "v", "k_scale", "v_scale")
    got, want = state(cache), state(ref_cache)
    same = all(torch.equal(g, w) for g, w in zip(got, want))
    assert same, first_differences(got, want, names) + rotation_inputs(got[0], want[0], k, cos, sin, token_type, 5)


def rotation_inputs(got_k, want_k, k, cos, sin, token_type, first_slot: int, limit=2) -> str:
    """For K entries that differ ([B, H, L, D] cache; the step's tokens written from ``first_slot``): the rotation's
    inputs at that token -- k at d and its partner d +- D/2, cos and sin at d, as floats with their signs (repr keeps
    -0.0) -- and the token type, for a diagnosis from a GPU log (run with --runxfail where the case is marked)."""
    out = []
    for b, h, slot, d in (got_k != want_k).nonzero().tolist()[:limit]:
        t, partner = slot - first_slot, (d + D // 2) % D
        row = k[b, t].view(-1, D)[h].float()
        out.append(
            f"(b {b}, head {h}, token {t}, d {d}): k {row[d].item()!r} partner {row[partner].item()!r} "
            f"cos {cos[b, t, d].float().item()!r} sin {sin[b, t, d].float().item()!r} type {int(token_type[b, t])}"
        )
    return ("; rotation inputs " + "; ".join(out)) if out else ""


def attention_case(model, strategy, b, length, valid_len, seed=2):
    hq, hkv = SHAPES[model]
    cache = make_cache(strategy, b + 1, hkv, length, seed)
    q = torch.randn(b, hq, 1, D, device="cuda", dtype=torch.bfloat16)
    key_valid = torch.zeros(b, length, dtype=torch.bool, device="cuda")
    key_valid[:, :valid_len] = True
    key_valid[0, 3] = False
    key_valid[-1, valid_len // 2 :] = False  # a shorter (padded) row
    return q, cache, key_valid


def float_reference(q, kv, key_valid):
    """Attention of (rotated) queries over a layer cache in float32 (FP8 entries dequantized by the reference)."""
    k, v = (x if kv.k_scale is not None else x.float() for x in (kv.k, kv.v))
    return decode_attention_reference(q.float(), k, v, kv.k_scale, kv.v_scale, key_valid)


@pytest.mark.parametrize("model", SHAPES)
@pytest.mark.parametrize("strategy", ["bf16", "dynamic"])
@pytest.mark.parametrize("b, length, valid_len", [(1, 364, 300), (4, 2101, 2048), (16, 8256, 8192)])
def test_single_launch_attention_matches_reference_and_two_launch(model, strategy, b, length, valid_len):
    q, cache, key_valid = attention_case(model, strategy, b, length, valid_len)
    kv = cache.layer(0)
    args = (q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid)
    assert attention_splits(b * SHAPES[model][1], length)[0] > 1
    out = launch_decode_attention(*args, combine_in_kernel=True)
    ref = float_reference(q, kv, key_valid)
    assert rel_err(out, ref) < 2e-2
    assert rel_err(out, launch_decode_attention(*args, combine_in_kernel=False)) < 1e-5
    for _ in range(20):  # a race between the splits would move the result
        assert torch.equal(out, launch_decode_attention(*args, combine_in_kernel=True))
    assert torch.equal(launch_decode_attention(*args), launch_decode_attention(*args))  # the default plan
    assert not head_counters(q.device, 1).any()


@pytest.mark.parametrize("model", SHAPES)
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("b, length", [(1, 364), (16, 2101)])
def test_fused_rope_write_attention_equals_the_two_ops(model, strategy, b, length):
    hq, hkv = SHAPES[model]
    q, k, v, cos, sin, token_type = projections(b, 1, hq, hkv, seed=3)
    slot = torch.tensor([length - 40], device="cuda")
    _, ref_cache, key_valid = attention_case(model, strategy, b, length, length - 60)
    _, cache, _ = attention_case(model, strategy, b, length, length - 60)
    key_valid[:, slot] = True
    ref_kv, kv = ref_cache.layer(0), cache.layer(0)
    q_rot = launch_rope_kv(
        q,
        k,
        v,
        cos,
        sin,
        ref_kv.k,
        ref_kv.v,
        ref_kv.k_scale,
        ref_kv.v_scale,
        list(ref_kv.tables or ()),
        slot,
        token_type,
    ).transpose(1, 2)
    ref = launch_decode_attention(q_rot, ref_kv.k, ref_kv.v, ref_kv.k_scale, ref_kv.v_scale, key_valid)
    out = launch_decode_attention(
        q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, rope=(k, v, cos, sin, list(kv.tables or ()), slot, token_type)
    )
    for got, want in zip(state(cache), state(ref_cache)):
        assert torch.equal(got, want)
    assert rel_err(out, ref) < 2e-3  # same q and entries; the kernels may order the arithmetic differently


# (strategy, static cache length, slot, batch, launch keywords): as the interpreter's FUSED_CONTEXT_CASES, at the
# 2b/7b heads (head_dim 128)
FUSED_CONTEXT_CASES = {
    "long_cache_bf16": ("bf16", 2048, 300, 1, {}),
    "long_cache_dynamic": ("dynamic", 2048, 300, 1, {}),
    "long_cache_visual": ("visual_aware", 2048, 300, 16, {}),
    "long_cache_two_launch": ("dynamic", 2048, 300, 1, {"combine_in_kernel": False}),
    "batch3_left_padding": ("dynamic", 700, 300, 3, {}),
    "slot_in_first_block": ("bf16", 460, 400, 1, {"max_splits": 3}),
    "slot_in_middle_block": ("dynamic", 460, 300, 1, {"max_splits": 2}),
    "slot_in_last_block": ("visual_aware", 460, 350, 1, {"max_splits": 2}),
    "one_split": ("dynamic", 700, 200, 3, {"max_splits": 1}),
    "many_splits": ("bf16", 700, 650, 1, {"max_splits": 11}),
    "many_splits_two_launch": ("dynamic", 700, 600, 2, {"max_splits": 11, "combine_in_kernel": False}),
    "prefetch2_slot_in_middle_block": ("dynamic", 460, 300, 1, {"max_splits": 2, "prefetch_blocks": 2}),
    "prefetch2_one_block_splits": ("bf16", 460, 300, 16, {"max_splits": 11, "prefetch_blocks": 2, "num_warps": 8}),
    "prefetch6_one_split": ("dynamic", 460, 300, 1, {"max_splits": 1, "prefetch_blocks": 6, "num_warps": 8}),
    "prefetch6_one_split_block_after": ("bf16", 460, 400, 16, {"max_splits": 1, "prefetch_blocks": 6, "num_warps": 4}),
    # the earlier combine, one [splits, rows, D] tile (combine=0; the default is a tile a split): one step of splits
    # and two, a batch of rows
    "combine0_default_splits": ("dynamic", 372, 300, 1, {"combine_form": 0}),
    "combine0_many_splits": ("bf16", 700, 650, 3, {"max_splits": 11, "combine_form": 0}),
    # the loop over a split's later blocks software-pipelined (stages=3, the earlier default; the default is one
    # stage): one-block splits (the loop runs no iteration) and two splits of many blocks
    "stages3_default_splits": ("dynamic", 372, 300, 1, {"num_stages": 3}),
    "stages3_many_blocks": ("bf16", 2048, 1500, 2, {"max_splits": 2, "num_stages": 3}),
    # RoPE's products rounded by the GPU's conversion (rounding=1, a candidate; the default rounds in integer
    # arithmetic, the interpreter's form): a BF16 and an FP8 cache
    "rounding1_bf16": ("bf16", 372, 300, 3, {"rounding": 1}),
    "rounding1_dynamic": ("dynamic", 372, 300, 1, {"rounding": 1}),
    # 32-slot blocks (block=32, a candidate): the step's plan (ten one-block splits at slot 300), the rule's splits
    # of several blocks over a batch, two blocks a split before the wait
    "block32_step_plan": ("bf16", 372, 300, 1, {"block_l": 32, "max_splits": 12}),
    "block32_step_plan_dynamic": ("dynamic", 372, 300, 16, {"block_l": 32, "max_splits": 12}),
    "block32_rule_visual": ("visual_aware", 700, 300, 3, {"block_l": 32}),
    "block32_prefetch2": ("bf16", 460, 350, 1, {"block_l": 32, "max_splits": 2, "prefetch_blocks": 2}),
}


def context_key_valid(b, length, slot):
    """Left-padded rows with holes, nothing after the slot (the op's contract); the last of several rows does not
    attend to its own token."""
    g = torch.Generator(device="cuda").manual_seed(9)
    key_valid = torch.rand(b, length, generator=g, device="cuda") > 0.1
    for row in range(b):
        key_valid[row, : min(37 * row, slot // 2)] = False  # every row keeps valid keys
    key_valid[:, slot] = True
    if b > 1:
        key_valid[-1, slot] = False
    key_valid[:, slot + 1 :] = False
    return key_valid


@pytest.mark.parametrize("model", SHAPES)
@pytest.mark.parametrize("case", FUSED_CONTEXT_CASES)
def test_fused_attention_follows_the_context(model, case):
    """The fused op against RoPE + write then attention over the cache (bit-exact entries), and against itself
    over the cache cut to just past the slot (identical output: the slot, not the cache length, plans the work);
    stable over repeats (a race between the splits would move it)."""
    strategy, length, slot_pos, b, kwargs = FUSED_CONTEXT_CASES[case]
    hq, hkv = SHAPES[model]
    q, k, v, cos, sin, token_type = projections(b, 1, hq, hkv, seed=7)
    slot = torch.tensor([slot_pos], device="cuda")
    key_valid = context_key_valid(b, length, slot_pos)
    ref_cache, cache = make_cache(strategy, b + 1, hkv, length, 5), make_cache(strategy, b + 1, hkv, length, 5)
    short_len = slot_pos + 40
    short = make_cache(strategy, b + 1, hkv, short_len, 5)  # the same static scales; its entries copied below
    for dst, src in zip(state_tensors(short), state_tensors(cache)):
        dst.copy_(src[:, :, :short_len])
    ref_kv = ref_cache.layer(0)
    q_rot = launch_rope_kv(
        q, k, v, cos, sin, ref_kv.k, ref_kv.v, ref_kv.k_scale, ref_kv.v_scale, list(ref_kv.tables or ()), slot,
        token_type,
    ).transpose(1, 2)  # fmt: skip
    ref = float_reference(q_rot, ref_kv, key_valid)

    def run(c, valid):
        kv = c.layer(0)
        rope = (k, v, cos, sin, list(kv.tables or ()), slot, token_type)
        return launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, valid, rope=rope, **kwargs)

    out = run(cache, key_valid)
    for got, want in zip(state(cache), state(ref_cache)):
        assert torch.equal(got, want), mismatch(got, want)
    assert rel_err(out, ref) < 2e-2  # bf16 attention against float32
    assert torch.equal(out, run(short, key_valid[:, :short_len].contiguous())), case
    for got, want in zip(state(short), state(cache)):
        assert torch.equal(got, want[:, :, :short_len])
    for _ in range(10):
        assert torch.equal(out, run(cache, key_valid))
    assert not head_counters(q.device, 1).any()


@pytest.mark.parametrize("strategy", ["bf16", "dynamic"])
def test_fused_attention_rounds_rope_the_same_in_the_hardware_and_in_integers(strategy):
    """``rounding=1`` (RoPE's bf16 roundings by the GPU's conversion) and the default ``rounding=0`` (integer
    arithmetic, the interpreter's form) write the same cache entries and give the same output, bit for bit (2b heads,
    batch 3)."""
    hq, hkv = SHAPES["2b"]
    q, k, v, cos, sin, token_type = projections(3, 1, hq, hkv, seed=11)
    slot, key_valid = torch.tensor([300], device="cuda"), context_key_valid(3, 372, 300)
    outs, states = [], []
    for rounding in (1, 0):
        cache = make_cache(strategy, 4, hkv, 372, 5)
        kv = cache.layer(0)
        rope = (k, v, cos, sin, list(kv.tables or ()), slot, token_type)
        outs.append(
            launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, rope=rope, rounding=rounding)
        )
        states.append(state(cache))
    assert torch.equal(outs[0], outs[1])
    for got, want in zip(*states):
        assert torch.equal(got, want), mismatch(got, want)


def state_tensors(cache):
    return (*cache.k, *cache.v, *cache.k_scale, *cache.v_scale)


def cuda_kernels(fn) -> list[str]:
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return [
        e.name
        for e in prof.events()
        if e.device_type.name == "CUDA" and "Memset" not in e.name and "Memcpy" not in e.name
    ]


def test_each_op_is_one_kernel():
    hq, hkv = SHAPES["2b"]
    q, k, v, cos, sin, token_type = projections(1, 1, hq, hkv, seed=4)
    _, cache, key_valid = attention_case("2b", "dynamic", 1, 364, 300)
    kv, slot = cache.layer(0), torch.tensor([300], device="cuda")
    tables = list(kv.tables or ())
    q_rot = torch.randn(1, hq, 1, D, device="cuda", dtype=torch.bfloat16)
    single = cuda_kernels(
        lambda: launch_decode_attention(q_rot, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, combine_in_kernel=True)
    )
    two = cuda_kernels(
        lambda: launch_decode_attention(q_rot, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, combine_in_kernel=False)
    )
    write = cuda_kernels(
        lambda: launch_rope_kv(q, k, v, cos, sin, kv.k, kv.v, kv.k_scale, kv.v_scale, tables, slot, token_type)
    )
    fused = cuda_kernels(
        lambda: launch_decode_attention(
            q,
            kv.k,
            kv.v,
            kv.k_scale,
            kv.v_scale,
            key_valid,
            rope=(k, v, cos, sin, tables, slot, token_type),
        )
    )  # the fused op's default: one launch, even where the plan of the unfused op takes two (short FP8 caches)
    default = cuda_kernels(lambda: launch_decode_attention(q_rot, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid))
    assert (len(single), len(two), len(write), len(fused)) == (1, 2, 1, 1), (single, two, write, fused)
    # the measured plan: a short FP8 cache combines in a second launch (attention.py's table)
    assert len(default) == (1 if attention_plan(hkv, 364, True)[2] else 2), default


def test_fused_attention_replays_from_a_cuda_graph():
    """28 layers of the fused op captured once, replayed for successive decode steps: same outputs and
    caches as eager calls of the unfused ops, and the arrival counters stay zero."""
    hq, hkv = SHAPES["2b"]
    layers, length, b = 28, 400, 2
    caches = [make_cache("dynamic", b, hkv, length, seed=i) for i in range(layers)]
    refs = [make_cache("dynamic", b, hkv, length, seed=i) for i in range(layers)]
    q, k, v, cos, sin, token_type = projections(b, 1, hq, hkv, seed=5)
    slot = torch.tensor([300], device="cuda")
    key_valid = torch.zeros(b, length, dtype=torch.bool, device="cuda")
    key_valid[:, :300] = True

    def step():
        return [
            launch_decode_attention(
                q, c.k[0], c.v[0], c.k_scale[0], c.v_scale[0], key_valid, rope=(k, v, cos, sin, [], slot, token_type)
            )
            for c in caches
        ]

    step()  # warm-up (compiles, counters) outside capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outs = step()
    for s in range(300, 304):
        slot.fill_(s)
        key_valid[:, s] = True
        graph.replay()
        for i, (out, ref) in enumerate(zip(outs, refs)):
            kv = ref.layer(0)
            q_rot = launch_rope_kv(q, k, v, cos, sin, kv.k, kv.v, kv.k_scale, kv.v_scale, [], slot, token_type)
            want = launch_decode_attention(q_rot.transpose(1, 2), kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid)
            assert rel_err(out, want) < 2e-3, (s, i)
    torch.cuda.synchronize()
    assert not head_counters(q.device, 1).any()
    for c, r in zip(caches, refs):
        assert all(torch.equal(x, y) for x, y in zip(state(c), state(r)))


@pytest.fixture(scope="module")
def preset_2b():
    from vlmq.models import load_model

    return load_model("qwen2-vl-2b", device="cuda")


@pytest.mark.parametrize("grids", [[(1, 32, 32)], [(1, 32, 32), (1, 16, 24)]])
def test_fused_vision_tower_replays_hf_features(preset_2b, grids):
    """qwen2-vl-2b's vision tower (random weights), one 448x448 image and a batch of two grids: the fused,
    compiled tower replayed from a CUDA graph is as close to the tower run in fp32 as HF's own bf16 forward
    is (within 1.2x of HF's error). Two bf16 paths cannot be compared tighter: over 32 blocks each drifts
    from fp32 by ~1.5e-2 and they differ from each other by ~1.65e-2 (benchmarks/vision_bf16_noise.py on a
    CPU, uncompiled: fused 1.51e-2, HF 1.51e-2 against fp32; the H200 measured 1.8e-2 between them)."""
    import copy

    from vlmq.engine.graphs import VisionGraphs
    from vlmq.engine.vision import image_features
    from vlmq.models.layout import vision_tower

    model = preset_2b.model
    grid = torch.tensor(grids, device="cuda")
    patches = int(sum(t * h * w for t, h, w in grids))
    pixels = torch.randn(patches, 3 * 2 * 14 * 14, device="cuda")
    with torch.no_grad():
        reference = image_features(model, pixels, grid)
        fp32_tower = copy.deepcopy(vision_tower(model)).float()
        fp32 = fp32_tower(pixels, grid_thw=grid)
        fp32 = getattr(fp32, "pooler_output", fp32)
        del fp32_tower
        vision = VisionGraphs(model, lambda p, g: image_features(model, p, g))
        outs = [vision(pixels, grid).clone() for _ in range(3)]  # record, capture, replay
    assert vision.note == "cuda-graph" and vision.body_note == "fused" and vision.graphs.graphs
    hf_err = rel_err(reference, fp32)
    assert hf_err < 3e-2  # the fp32 reference is the same tower (bf16: ~1.5e-2)
    for out in outs:
        assert rel_err(out, fp32) < 1.2 * hf_err, (rel_err(out, fp32), hf_err)


# each weight format, each cache, one split and several (batch 1 at a 372-slot cache; batch 3 at 2048 slots, 700 full):
# 8 of the 24 crossings, since the op is off by default (measured slower, attention_o.py) and each case compiles
# its own kernels (8-24 s each on the H200, seventeenth session)
O_PROJ_CASES = [
    ("bf16", "bf16", 1, 372, 300),
    ("int8", "dynamic", 3, 2048, 700),
    ("int4", "bf16", 3, 2048, 700),
    ("int4", "dynamic", 1, 372, 300),
]


@pytest.mark.parametrize("model", SHAPES)
@pytest.mark.parametrize("weights, strategy, b, length, slot", O_PROJ_CASES)
def test_attention_into_o_proj_equals_the_attention_then_o_proj(model, strategy, weights, b, length, slot):
    """vlmq::rope_kv_attention_o_proj's CUDA path (the attention's partials combined in o_proj's GEMV, or its
    fallback) against the fused attention then the same GEMV, over copies of one cache, at the 2b / 7b heads: the
    same cache writes, the output within bf16 rounding of the attention's output (the two combines sum the splits
    in different orders), stable over repeats."""
    from vlmq.engine.kernels.attention_o import launch_attention_o_proj
    from vlmq.engine.kernels.gemv import gemv
    from vlmq.engine.kernels.w4 import pack_int4

    hq, hkv = SHAPES[model]
    hidden = hq * D
    q, k, v, cos, sin, token_type = projections(b, 1, hq, hkv, seed=5)
    slot_t = torch.tensor([slot], device="cuda")
    key_valid = context_key_valid(b, length, slot)
    g = torch.Generator(device="cuda").manual_seed(6)
    w = (torch.randn(hidden, hidden, generator=g, device="cuda") / 30).bfloat16()
    if weights == "int4":
        codes = torch.randint(-8, 8, (hidden, hidden), generator=g, device="cuda", dtype=torch.int8)
        lin = (pack_int4(codes), (torch.rand(hidden, hidden // 128, device="cuda") / 50).bfloat16(), None, 128, None)
    elif weights == "int8":  # per-row scales (fp32), as the int8 recipes store them
        codes = torch.randint(-127, 128, (hidden, hidden), generator=g, device="cuda", dtype=torch.int8)
        lin = (codes, torch.rand(hidden, generator=g, device="cuda") * 1e-3, None, 0, None)
    else:
        lin = (w, None, None, 0, None)
    residual = torch.randn(b, hidden, generator=g, device="cuda").bfloat16()
    caches = [make_cache(strategy, b, hkv, length, seed=7) for _ in range(3)]
    outs = []
    for cache in caches[:2]:
        kv = cache.layer(0)
        outs.append(
            launch_attention_o_proj(
                q,
                k,
                v,
                cos,
                sin,
                kv.k,
                kv.v,
                kv.k_scale,
                kv.v_scale,
                list(kv.tables or ()),
                slot_t,
                token_type,
                key_valid,
                *lin,
                residual,
            )  # fmt: skip
        )
    kv = caches[2].layer(0)
    rope = (k, v, cos, sin, list(kv.tables or ()), slot_t, token_type)
    attn = launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, rope=rope)
    want = gemv(attn.reshape(b, hidden), *lin, residual=residual)
    for got, ref in zip(state(caches[0]), state(caches[2])):
        assert torch.equal(got, ref)
    assert torch.equal(outs[0], outs[1])  # no race between the splits and o_proj's loads
    assert rel_err(outs[0] - residual, want - residual) < 1e-2
