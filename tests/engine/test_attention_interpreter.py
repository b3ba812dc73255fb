"""RoPE + KV write (``rope_kv_write``), decode attention in one launch (``decode_attention``) and the two fused
(``rope_kv_decode_attention``) against their references, through Triton's CPU interpreter.

The checks run once, in a subprocess with TRITON_INTERPRET=1 (this file run as a script), and print JSON
that the tests below read. Triton's interpreter truncates fp32 → bf16, mis-rounds fp32 → fp8 where
rounding carries into the exponent (the GPU rounds to nearest even) and multiplies bf16 dot operands as
integers; the script replaces those by torch's conversions and a float32 product, so the kernels' own
arithmetic is checked here: bit for bit for the cache writes, against float32 references for attention.
The 2b/7b shapes run on the GPU (test_attention_gpu.py). Skipped where Triton is not installed.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

import pytest

STRATEGIES = ("bf16", "static", "per_head", "visual_aware", "dynamic")
# mode: (splits, cache length, launch keywords); 150 and 700 slots are not multiples of the 64-slot block,
# and 11 splits take two combine steps of 8 (the second partly masked)
ATTENTION_MODES = {
    "one_split": (1, 150, {"max_splits": 1}),
    "in_kernel_combine": (3, 150, {"combine_in_kernel": True}),
    "two_launch": (3, 150, {"combine_in_kernel": False}),
    "many_splits": (11, 700, {"max_splits": 11}),
}
BF16_ATTENTION_MODES = ("in_kernel_combine", "many_splits")  # bf16 compute: every mode runs in float32
BF16_FUSED = ("bf16", "visual_aware", "dynamic")
# vlmq::rope_kv_attention_o_proj over a 340-slot cache: (dtype, cache, o_proj weights, slot); slot 300 makes 5 splits
# of one 64-slot block each, 20 one split
PARTIALS_CASES = [
    ("float32", "bf16", "float", 300),
    ("float32", "dynamic", "int4", 300),
    ("float32", "static", "float", 20),
    ("bfloat16", "bf16", "int4", 300),
]


@pytest.fixture(scope="module")
def results():
    pytest.importorskip("triton")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pytest imports tests by path (importlib)
    from gpu_like_interpreter import interpreter_run

    return interpreter_run(__file__, timeout=900)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rope_kv_write_is_bit_exact(results, dtype, strategy):
    r = results["rope_kv"][f"{dtype}-{strategy}"]
    assert r["q_equal"] and r["cache_equal"] and r["scales_equal"], r
    assert r["slots_written"] > 0 and r["untouched_equal"], r  # the rows/slots not written stay as they were


@pytest.mark.parametrize("cache", ["bf16", "fp8"])
@pytest.mark.parametrize("mode", ATTENTION_MODES)
def test_decode_attention_matches_reference(results, cache, mode):
    r = results["attention"][f"float32-{cache}-{mode}"]
    assert r["splits"] == ATTENTION_MODES[mode][0], r
    assert r["rel_err"] < 1e-5, r
    assert r["counters_zero"], r  # the last program reset its counter


@pytest.mark.parametrize("cache", ["bf16", "fp8"])
@pytest.mark.parametrize("mode", BF16_ATTENTION_MODES)
def test_decode_attention_in_bf16_is_close_to_float32(results, cache, mode):
    r = results["attention"][f"bfloat16-{cache}-{mode}"]
    assert r["splits"] == ATTENTION_MODES[mode][0] and r["rel_err"] < 1e-2 and r["counters_zero"], r


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fused_rope_write_attention_matches_reference(results, strategy):
    r = results["fused"][f"float32-{strategy}"]
    assert r["splits"] > 1 and r["rel_err"] < 1e-5 and r["cache_equal"] and r["scales_equal"], r


@pytest.mark.parametrize("strategy", ["bf16", "dynamic"])
def test_fused_rope_write_attention_in_one_split(results, strategy):
    r = results["fused_one_split"][strategy]
    assert r["splits"] == 1 and r["rel_err"] < 1e-5 and r["cache_equal"] and r["scales_equal"], r


@pytest.mark.parametrize("strategy", BF16_FUSED)
def test_fused_rope_write_attention_in_bf16(results, strategy):
    r = results["fused"][f"bfloat16-{strategy}"]
    assert r["splits"] > 1 and r["rel_err"] < 1e-2 and r["cache_equal"] and r["scales_equal"], r


# the fused op over the step's context: (strategy, static cache length, slot, batch, launch keywords); the slot bounds
# the work, so a 2048-slot cache must give what a short one gives (bit for bit: the same splits run)
FUSED_CONTEXT_CASES = {
    "long_cache_bf16": ("bf16", 2048, 300, 1, {}),
    "long_cache_dynamic": ("dynamic", 2048, 300, 1, {}),
    "long_cache_visual": ("visual_aware", 2048, 300, 1, {}),
    "long_cache_two_launch": ("dynamic", 2048, 300, 1, {"combine_in_kernel": False}),
    "batch3_left_padding": ("dynamic", 700, 300, 3, {}),
    "slot_in_first_block": ("bf16", 460, 400, 1, {"max_splits": 3}),  # 7 blocks, 3 splits of 3 blocks
    "slot_in_middle_block": ("dynamic", 460, 300, 1, {"max_splits": 2}),  # 5 blocks, 2 splits of 3
    "slot_in_last_block": ("visual_aware", 460, 350, 1, {"max_splits": 2}),  # 6 blocks, 2 splits of 3
    "one_split": ("dynamic", 700, 200, 3, {"max_splits": 1}),
    "many_splits": ("bf16", 700, 650, 1, {"max_splits": 11}),  # 11 splits: two combine steps of 8
    "many_splits_two_launch": ("dynamic", 700, 600, 2, {"max_splits": 11, "combine_in_kernel": False}),
    # the second block of each split loaded before the wait: splits of 3 blocks, and of 1 (the block after is the
    # next split's and must not count)
    "prefetch2_slot_in_middle_block": ("dynamic", 460, 300, 1, {"max_splits": 2, "prefetch_blocks": 2}),
    "prefetch2_one_block_splits": ("bf16", 460, 300, 2, {"max_splits": 11, "prefetch_blocks": 2}),
    # one split whose every block loads before the wait (the no-combine plan): 5 blocks at slot 300, 6 loaded (the
    # last past the context), and 7 blocks at slot 400 with 6 before the wait and the last after it
    "prefetch6_one_split": ("dynamic", 460, 300, 1, {"max_splits": 1, "prefetch_blocks": 6}),
    "prefetch6_one_split_block_after": ("bf16", 460, 400, 2, {"max_splits": 1, "prefetch_blocks": 6}),
    # the earlier combine, one [splits, rows, D] tile (combine=0; the default is a tile a split): several splits at a
    # long cache, two combine steps, three batch rows
    "combine0_long_cache_dynamic": ("dynamic", 2048, 300, 1, {"combine_form": 0}),
    "combine0_many_splits": ("bf16", 700, 650, 1, {"max_splits": 11, "combine_form": 0}),
    "combine0_batch3_visual": ("visual_aware", 700, 300, 3, {"combine_form": 0}),
    # 32-slot blocks (block=32, a candidate plan): the step's plan, ten one-block splits at slot 300 of a 372-slot
    # cache; the rule's splits of several blocks over three rows; two blocks a split loaded before the wait
    "block32_step_plan": ("bf16", 372, 300, 1, {"block_l": 32, "max_splits": 12}),
    "block32_batch3_dynamic": ("dynamic", 700, 300, 3, {"block_l": 32}),
    "block32_prefetch2_visual": ("visual_aware", 460, 350, 1, {"block_l": 32, "max_splits": 2, "prefetch_blocks": 2}),
}


@pytest.mark.parametrize("case", FUSED_CONTEXT_CASES)
def test_fused_attention_follows_the_context_not_the_cache_length(results, case):
    """RoPE + write + attention against the reference (rope write, then attention over the cache), the cache as
    written, and the same call over a cache cut to just past the slot: identical output and entries."""
    r = results["fused_context"][case]
    assert r["rel_err"] < 1e-5 and r["cache_equal"] and r["scales_equal"] and r["counters_zero"], r
    assert r["equal_to_short_cache"] and r["short_cache_equal"], r
    assert r["untouched_equal"], r  # only the step's slot was written


def test_fused_context_cases_cover_the_split_layouts(results):
    """The cases above reach what they are named for: the slot's block within its split, one split, several
    combine steps, and a static cache whose launched splits exceed the context's."""
    from vlmq.engine.kernels.attention import COMBINE_SPLITS

    r = results["fused_context"]
    assert [r[f"slot_in_{w}_block"]["slot_block"] for w in ("first", "middle", "last")] == [
        [0, 3],
        [1, 3],
        [2, 3],
    ]  # (block, blocks a split)
    assert r["one_split"]["splits"] == 1 and r["many_splits"]["splits"] > COMBINE_SPLITS
    assert r["many_splits_two_launch"]["splits"] > COMBINE_SPLITS
    assert r["combine0_many_splits"]["splits"] > COMBINE_SPLITS and r["combine0_long_cache_dynamic"]["splits"] > 1
    for case in ("long_cache_bf16", "long_cache_dynamic", "long_cache_two_launch"):
        assert r[case]["grid_splits"] > r[case]["splits"] > 1, r[case]
    assert (r["block32_step_plan"]["splits"], r["block32_step_plan"]["chunk"]) == (10, 32)  # 301 slots
    assert r["block32_batch3_dynamic"]["chunk"] > 32 and r["block32_prefetch2_visual"]["slot_block"][1] > 2


@pytest.mark.parametrize("case", ["-".join(map(str, c)) for c in PARTIALS_CASES])
def test_o_proj_combining_the_partials_equals_the_attention_then_o_proj(results, case):
    """vlmq::rope_kv_attention_o_proj's kernels: the attention leaves its partials and o_proj's GEMV combines them
    as it loads its row; against the fused attention (its own combine) then the same GEMV, over copies of one cache
    -- the same output (float32: to rounding; bf16: the attention's output rounded as it would be stored), the same
    cache writes, and 5 splits at slot 300 (one 64-slot block each), 1 at slot 20."""
    r = results["partials_o_proj"][case]
    assert r["cache_equal"], r
    assert r["splits"] == ([5] if case.endswith("-300") else [1]), r
    assert r["rel_err"] < (1e-5 if case.startswith("float32") else 1e-2), r


def test_in_kernel_split_rule_equals_attention_splits(results):
    """``context_splits`` (the kernel's plan from the slot) equals ``attention_splits`` at the context length,
    bounded by the launched splits, for every context up to the static length the grid was planned for."""
    r = results["context_splits"]
    assert r["checked"] > 500 and not r["mismatches"], r["mismatches"][:5]


@pytest.mark.parametrize(
    "heads, length, fp8, want",
    [
        (2, 364, False, (6, True)),  # batch 1, 300-token context: one launch (10.2 vs 10.5 us)
        (2, 364, True, (6, False)),  # ... FP8 cache: split + combine kernels (12.0 vs 12.4)
        (32, 364, False, (6, False)),  # batch 16: two launches (13.0 vs 14.9)
        (32, 2112, False, (7, True)),  # 2k context, batch 16: one launch, 256 programs (22.0 vs 30.9 at 512)
        (32, 8256, True, (8, True)),  # 8k, batch 16, FP8: one launch, 256 programs (whole steps at 4 warps: 2.471 vs
        # 2.560 ms/token for 480 programs at 2 warps)
        (2, 8256, False, (22, True)),  # 8k, batch 1: one launch
    ],
)
def test_attention_plan_follows_the_measurements(heads, length, fp8, want):
    """The launch plan reproduces the choices of the H200 table in attention.py (no Triton needed)."""
    from vlmq.engine.kernels.attention import attention_plan

    splits, _, combine_in_kernel = attention_plan(heads, length, fp8)
    assert (splits, combine_in_kernel) == want


@pytest.mark.parametrize(
    "batch, length, fp8, want",
    [
        (1, 364, False, (4, 1)),  # the workload's context: 4 warps, one-block splits, 1 stage
        (16, 364, False, (4, 1)),
        (1, 364, True, (4, 1)),  # FP8 cache: 4 warps too
        (16, 8256, True, (4, 3)),  # issue 17's long point: 8 splits of 17 blocks, pipelined
        (16, 8256, False, (4, 3)),  # the same plan over a BF16 cache
        (1, 8256, False, (4, 3)),  # 22 splits of 6 blocks
        (16, 1100, False, (4, 1)),  # 6 splits of 3 blocks: under LONG_SPLIT_BLOCKS
    ],
)
def test_fused_launch_takes_the_measured_warps_and_stages(monkeypatch, batch, length, fp8, want):
    """The fused op's launch (2b heads, a 300-token context, recorded as ``attention_phases_sass`` records it, not
    run) compiles the kernel with ``ATTN_WARPS`` and ``attention_stages``' count; a plan's ``num_stages``
    overrides the rule."""
    pytest.importorskip("triton")  # the launcher imports the kernel's module
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    from attention_phases_sass import recorded_launch

    kind = "dynamic" if fp8 else "bf16"
    launches = [recorded_launch("2b", kind, plan, batch, 300, length)[2] for plan in ({}, {"num_stages": 2})]
    assert [(kw["num_warps"], kw["num_stages"]) for kw in launches] == [want, (want[0], 2)]


# ----- the checks (run as a script under TRITON_INTERPRET=1) -------------------------------------------------
def make_cache(strategy, dtype, *, rows=4, hkv=2, length=11, d=32, seed=1):
    import torch

    from vlmq.engine.kv_cache import StaticKVCache
    from vlmq.engine.types import KVConfig, KVScales

    g = torch.Generator().manual_seed(seed)
    scales = KVScales(*(torch.rand(1, hkv, generator=g) * 0.02 + 0.004 for _ in range(4)))
    kv = KVConfig.for_kind(strategy, scales)
    cache = StaticKVCache(
        num_layers=1,
        max_batch_size=rows,
        num_kv_heads=hkv,
        max_seq_len=length,
        head_dim=d,
        dtype=dtype,
        device=torch.device("cpu"),
        kv=kv,
    )
    for t in (*cache.k, *cache.v):  # start from junk, so untouched slots are checked too
        t.copy_(torch.randint(0, 120, t.shape, generator=g).to(t.dtype))
    for t in (*cache.k_scale, *cache.v_scale):
        t.copy_(torch.rand(t.shape, generator=g) * 0.01 + 0.001)
    return cache


def projections(b, t, hq, hkv, d, dtype, seed):
    """q/k/v as split views of one fused projection output, and M-RoPE tables of random positions."""
    import torch

    from vlmq.engine.rope import mrope_cos_sin

    g = torch.Generator().manual_seed(seed)
    qkv = (torch.randn(b, t, (hq + 2 * hkv) * d, generator=g) * 3).to(dtype)
    q, k, v = qkv.split([hq * d, hkv * d, hkv * d], dim=-1)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
    cos, sin = mrope_cos_sin(torch.randint(0, 500, (3, b, t), generator=g), inv_freq, [4, 6, 6], dtype)
    token_type = torch.randint(-1, 3, (b, t), generator=g)  # padding, text, visual, generated
    return q, k, v, cos, sin, token_type


def same_bits(a, b) -> bool:
    """Equal bit for bit (torch.equal takes -0 for +0)."""
    import torch

    ints = {1: torch.uint8, 2: torch.int16, 4: torch.int32}
    return a.dtype == b.dtype and torch.equal(a.view(ints[a.element_size()]), b.view(ints[b.element_size()]))


def cache_state(cache):
    return [t.clone() for t in (*cache.k, *cache.v, *cache.k_scale, *cache.v_scale)]


def check_rope_kv(dtype, strategy):
    import torch

    from vlmq.engine.kernels.rope_kv import launch_rope_kv, rope_kv_reference

    b, t, hq, hkv, d = 3, 5, 6, 2, 32
    q, k, v, cos, sin, token_type = projections(b, t, hq, hkv, d, dtype, seed=2)
    # signed zeros: -0 in q and k at d 0 and its rotate-half partner, in V (written unrotated), and one token at
    # angle 0 (cos 1, sin +0), where eager's rotation gives -0 * 1 + (-(-0)) * +0 = +0. Triton 3.6 compiles a float's
    # unary minus as 0 - x, so a kernel that negated sin there would write -0 (the H200's one differing K byte).
    for x in (q, k):
        x.view(b, t, -1, d)[..., [0, d // 2]] = -0.0
    v.view(b, t, hkv, d)[..., 1] = -0.0
    cos[0, 1], sin[0, 1] = 1.0, 0.0
    write_pos = torch.tensor([7, 1, 3, 9, 10])
    ref_cache, cache = make_cache(strategy, dtype), make_cache(strategy, dtype)
    before = cache_state(cache)
    ref_q = rope_kv_reference(q, k, v, cos, sin, ref_cache.layer(0), write_pos, token_type)
    kv = cache.layer(0)
    out = launch_rope_kv(
        q, k, v, cos, sin, kv.k, kv.v, kv.k_scale, kv.v_scale, list(kv.tables or ()), write_pos, token_type
    )
    after, ref_after = cache_state(cache), cache_state(ref_cache)
    written = torch.zeros(before[0].shape[:3], dtype=torch.bool)
    written[:b, :, write_pos] = True
    n_entry = 2  # k, v entries; the scales follow
    untouched = all(torch.equal(x[~written], y[~written]) for x, y in zip(after, before))
    return {
        "q_equal": same_bits(out.transpose(1, 2), ref_q),
        "cache_equal": all(same_bits(x, y) for x, y in zip(after[:n_entry], ref_after[:n_entry])),
        "scales_equal": all(torch.equal(x, y) for x, y in zip(after[n_entry:], ref_after[n_entry:])),
        "slots_written": int(written.sum()),
        "untouched_equal": untouched,
    }


def attention_inputs(strategy, dtype, *, b=3, hq=6, hkv=2, length=150, d=32, seed=3):
    """q [B, Hq, 1, D], a cache of random entries, and a key mask with holes (padding), one row short."""
    import torch

    cache = make_cache(strategy, dtype, rows=b + 1, hkv=hkv, length=length, d=d, seed=seed)
    g = torch.Generator().manual_seed(seed)
    if strategy != "bf16":  # realistic FP8 entries: random values quantized with their scales
        for bits, scale in zip((*cache.k, *cache.v), (*cache.k_scale, *cache.v_scale)):
            values = torch.randn(bits.shape, generator=g) * scale.unsqueeze(-1) * 200
            bits.copy_((values / scale.unsqueeze(-1)).clamp(-448, 448).to(torch.float8_e4m3fn).view(torch.uint8))
    else:
        for t in (*cache.k, *cache.v):
            t.copy_(torch.randn(t.shape, generator=g))
    q = torch.randn(b, hq, 1, d, generator=g).to(dtype)
    key_valid = torch.rand(b, length, generator=g) > 0.2
    key_valid[min(1, b - 1), 40:] = False
    return q, cache, key_valid


def check_attention(dtype, cache, mode):
    from vlmq.engine.kernels.attention import (
        _counters,
        attention_splits,
        decode_attention_reference,
        launch_decode_attention,
    )

    _, length, kwargs = ATTENTION_MODES[mode]
    q, kv_cache, key_valid = attention_inputs("bf16" if cache == "bf16" else "dynamic", dtype, length=length)
    kv = kv_cache.layer(0)
    out = launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, **kwargs)
    k, v = (x if kv.k_scale is not None else x.float() for x in (kv.k, kv.v))
    ref = decode_attention_reference(q.float(), k, v, kv.k_scale, kv.v_scale, key_valid)  # in float32
    counters = _counters.get(q.device)
    return {
        "splits": attention_splits(q.shape[0] * kv.k.shape[1], length, max_splits=kwargs.get("max_splits"))[0],
        "rel_err": rel_err(out, ref),
        "counters_zero": counters is None or not bool(counters.any()),
    }


def check_fused(dtype, strategy, max_splits=None):
    import torch

    from vlmq.engine.kernels.attention import (
        attention_splits,
        decode_attention_reference,
        launch_decode_attention,
    )
    from vlmq.engine.kernels.rope_kv import rope_kv_reference

    b, hq, hkv, d, length = 3, 6, 2, 32, 150
    q, k, v, cos, sin, token_type = projections(b, 1, hq, hkv, d, dtype, seed=4)
    slot = torch.tensor([97])
    _, ref_cache, key_valid = attention_inputs(strategy, dtype)
    _, cache, _ = attention_inputs(strategy, dtype)
    key_valid[:, 97] = True
    key_valid[:, 98:] = False  # the op's contract: every valid key precedes the slot the step writes
    ref_kv = ref_cache.layer(0)
    q_rot = rope_kv_reference(q, k, v, cos, sin, ref_kv, slot, token_type)  # exact in either dtype
    ref_k, ref_v = (x if ref_kv.k_scale is not None else x.float() for x in (ref_kv.k, ref_kv.v))
    ref = decode_attention_reference(q_rot.float(), ref_k, ref_v, ref_kv.k_scale, ref_kv.v_scale, key_valid)
    kv = cache.layer(0)
    out = launch_decode_attention(
        q,
        kv.k,
        kv.v,
        kv.k_scale,
        kv.v_scale,
        key_valid,
        target_programs=36,
        max_splits=max_splits,
        rope=(k, v, cos, sin, list(kv.tables or ()), slot, token_type),
    )
    after, ref_after = cache_state(cache), cache_state(ref_cache)
    return {
        "splits": attention_splits(b * hkv, length, 36, max_splits)[0],
        "rel_err": rel_err(out, ref),
        "cache_equal": all(torch.equal(x, y) for x, y in zip(after[:2], ref_after[:2])),
        "scales_equal": all(torch.equal(x, y) for x, y in zip(after[2:], ref_after[2:])),
    }


def check_partials_o_proj(dtype, strategy, weights, length, slot):
    """vlmq::rope_kv_attention_o_proj's kernels (the attention's partials, combined in o_proj's GEMV) against the
    fused attention with its own combine followed by the same GEMV, over two copies of one cache: the output, the
    cache writes, and the splits the heads ran."""
    import torch

    from vlmq.engine.kernels.attention import launch_decode_attention
    from vlmq.engine.kernels.attention_o import MAX_PARTIAL_SPLITS, launch_attention_o_proj
    from vlmq.engine.kernels.gemv import gemv
    from vlmq.engine.kernels.w4 import pack_int4

    b, hq, hkv, d, n = 3, 6, 2, 32, 48
    q, k, v, cos, sin, token_type = projections(b, 1, hq, hkv, d, dtype, seed=8)
    slot_t = torch.tensor([slot])
    key_valid = context_key_valid(b, length, slot, seed=9)
    _, fused_cache, _ = attention_inputs(strategy, dtype, b=b, length=length, d=d)
    _, two_cache, _ = attention_inputs(strategy, dtype, b=b, length=length, d=d)
    g = torch.Generator().manual_seed(10)
    residual = torch.randn(b, n, generator=g).to(dtype)
    if weights == "int4":
        w = pack_int4(torch.randint(-8, 8, (n, hq * d), dtype=torch.int8, generator=g))
        lin = (w, (torch.rand(n, hq * d // 32, generator=g) / 20).to(dtype), None, 32, None)
    else:
        lin = ((torch.randn(n, hq * d, generator=g) / 10).to(dtype), None, None, 0, None)
    kv1, kv2 = fused_cache.layer(0), two_cache.layer(0)
    tables = list(kv1.tables or ())
    got = launch_attention_o_proj(
        q, k, v, cos, sin, kv1.k, kv1.v, kv1.k_scale, kv1.v_scale, tables, slot_t, token_type, key_valid, *lin, residual
    )
    rope = (k, v, cos, sin, list(kv2.tables or ()), slot_t, token_type)
    out = launch_decode_attention(q, kv2.k, kv2.v, kv2.k_scale, kv2.v_scale, key_valid, rope=rope)
    want = gemv(out.reshape(b, hq * d), *lin, residual=residual, out_dtype=dtype)
    _, probe_cache, _ = attention_inputs(strategy, dtype, b=b, length=length, d=d)
    kv3 = probe_cache.layer(0)
    parts = launch_decode_attention(
        q, kv3.k, kv3.v, kv3.k_scale, kv3.v_scale, key_valid, rope=(k, v, cos, sin, list(kv3.tables or ()), slot_t,
        token_type), partials_out=True, max_splits=MAX_PARTIAL_SPLITS,
    )  # fmt: skip
    return {
        "splits": sorted(set(parts.count.tolist())),
        "rel_err": rel_err(got, want),
        "cache_equal": all(torch.equal(x, y) for x, y in zip(cache_state(fused_cache), cache_state(two_cache))),
    }


def context_key_valid(b, length, slot, seed):
    """Key flags as the engine makes them: rows left-padded by different amounts, a few holes, nothing after the
    slot (the op's contract), the slot itself valid except in the last of several rows (its token not attended)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    key_valid = torch.rand(b, length, generator=g) > 0.1
    for row in range(b):
        key_valid[row, : min(37 * row, slot // 2)] = False  # left padding; every row keeps valid keys
    key_valid[:, slot] = True
    if b > 1:
        key_valid[-1, slot] = False
    key_valid[:, slot + 1 :] = False
    return key_valid


def check_fused_context(strategy, length, slot, b, kwargs):
    """The fused op at one slot of a static cache of ``length``: against the reference, and against the same call
    over a copy of the cache cut to ``slot + 40`` slots."""
    import torch

    from vlmq.engine.kernels.attention import (
        ATTN_BLOCK_L,
        ATTN_TARGET_PROGRAMS,
        _counters,
        attention_splits,
        decode_attention_reference,
        launch_decode_attention,
    )
    from vlmq.engine.kernels.rope_kv import rope_kv_reference

    hq, hkv, d, dtype = 6, 2, 32, torch.float32
    q, k, v, cos, sin, token_type = projections(b, 1, hq, hkv, d, dtype, seed=6)
    slot_t = torch.tensor([slot])
    key_valid = context_key_valid(b, length, slot, seed=7)
    _, ref_cache, _ = attention_inputs(strategy, dtype, b=b, length=length, d=d)
    _, cache, _ = attention_inputs(strategy, dtype, b=b, length=length, d=d)
    short_len = slot + 40
    _, short, _ = attention_inputs(strategy, dtype, b=b, length=short_len, d=d)
    short_tensors = (*short.k, *short.v, *short.k_scale, *short.v_scale)
    for dst, src in zip(short_tensors, (*cache.k, *cache.v, *cache.k_scale, *cache.v_scale)):
        dst.copy_(src[:, :, :short_len])  # the short cache: the long one's first slots
    before = cache_state(cache)
    ref_kv = ref_cache.layer(0)
    q_rot = rope_kv_reference(q, k, v, cos, sin, ref_kv, slot_t, token_type)
    ref_k, ref_v = (x if ref_kv.k_scale is not None else x.float() for x in (ref_kv.k, ref_kv.v))
    ref = decode_attention_reference(q_rot.float(), ref_k, ref_v, ref_kv.k_scale, ref_kv.v_scale, key_valid)

    def run(c, valid):
        kv = c.layer(0)
        rope = (k, v, cos, sin, list(kv.tables or ()), slot_t, token_type)
        return launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, valid, rope=rope, **kwargs)

    out = run(cache, key_valid)
    out_short = run(short, key_valid[:, :short_len].contiguous())
    after, ref_after, short_after = cache_state(cache), cache_state(ref_cache), cache_state(short)
    written = torch.zeros(before[0].shape[:3], dtype=torch.bool)
    written[:b, :, slot] = True
    block_l, max_splits = kwargs.get("block_l", ATTN_BLOCK_L), kwargs.get("max_splits")
    grid = attention_splits(b * hkv, length, ATTN_TARGET_PROGRAMS, max_splits, block_l)[0]
    splits, chunk = attention_splits(b * hkv, slot + 1, grid * b * hkv, max_splits, block_l)  # the kernel's
    counters = _counters.get(q.device)
    return {
        "splits": splits,
        "grid_splits": grid,
        "chunk": chunk,
        "slot_block": ((slot % chunk) // block_l, chunk // block_l),
        "rel_err": rel_err(out, ref),
        "cache_equal": all(torch.equal(x, y) for x, y in zip(after[:2], ref_after[:2])),
        "scales_equal": all(torch.equal(x, y) for x, y in zip(after[2:], ref_after[2:])),
        "untouched_equal": all(torch.equal(x[~written], y[~written]) for x, y in zip(after, before)),
        "equal_to_short_cache": torch.equal(out, out_short),
        "short_cache_equal": all(torch.equal(x[:, :, :short_len], y) for x, y in zip(after, short_after)),
        "counters_zero": counters is None or not bool(counters.any()),
    }


def check_context_splits():
    """The kernel's split rule (``context_splits``, run by a one-program kernel) against ``attention_splits`` at
    the context length, for grids planned over static lengths and targets as the launch plans them."""
    import torch

    from vlmq.engine.kernels.attention import ATTN_BLOCK_L, COMBINE_SPLITS, attention_splits

    plan_kernel = context_plan_kernel()
    mismatches, checked = [], 0
    for static, heads, target, max_splits in [
        (372, 2, 256, None),
        (2048, 2, 256, None),
        (8256, 2, 512, None),
        (8256, 32, 512, None),
        (2048, 32, 256, None),
        (1200, 2, 512, 11),
        (700, 6, 36, None),
    ]:
        grid = attention_splits(heads, static, target, max_splits)[0]
        lengths = torch.arange(1, static + 1, 7, dtype=torch.int32)
        out = torch.zeros(2 * len(lengths), dtype=torch.int32)
        plan_kernel[(1,)](lengths, out, len(lengths), grid, max_splits or 0, ATTN_BLOCK_L, COMBINE_SPLITS)
        for i, n in enumerate(lengths.tolist()):
            want = attention_splits(heads, n, grid * heads, max_splits)  # the rule at n, at most the grid's splits
            checked += 1
            if tuple(out[2 * i : 2 * i + 2].tolist()) != want:
                mismatches.append((static, heads, target, max_splits, n, out[2 * i : 2 * i + 2].tolist(), want))
    return {"checked": checked, "mismatches": mismatches}


def context_plan_kernel():
    """A one-program kernel that writes ``context_splits``' (splits, chunk) for each length (module level: the
    interpreter resolves a kernel's callees through its module's globals)."""
    global context_splits
    import triton
    import triton.language as tl

    from vlmq.engine.kernels.attention_triton import context_splits

    @triton.jit
    def plan_kernel(lengths_ptr, out_ptr, n, grid_splits, max_splits, BLOCK_L: tl.constexpr, SB: tl.constexpr):
        for i in range(n):
            splits, chunk = context_splits(tl.load(lengths_ptr + i), grid_splits, max_splits, BLOCK_L, SB)
            tl.store(out_ptr + 2 * i, splits)
            tl.store(out_ptr + 2 * i + 1, chunk)

    return plan_kernel


def rel_err(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def main():
    import torch
    from gpu_like_interpreter import gpu_like_interpreter  # this directory is on sys.path (run as a script)

    gpu_like_interpreter()
    torch.set_num_threads(1)
    fp32, bf16 = torch.float32, torch.bfloat16
    out = {
        "rope_kv": {
            f"{str(dt).removeprefix('torch.')}-{s}": check_rope_kv(dt, s) for dt in (fp32, bf16) for s in STRATEGIES
        },
        "attention": {
            f"{str(dt).removeprefix('torch.')}-{c}-{m}": check_attention(dt, c, m)
            for dt in (fp32, bf16)
            for c in ("bf16", "fp8")
            for m in ATTENTION_MODES
            if dt == fp32 or m in BF16_ATTENTION_MODES
        },
        "fused": {
            f"{str(dt).removeprefix('torch.')}-{s}": check_fused(dt, s)
            for dt in (fp32, bf16)
            for s in STRATEGIES
            if dt == fp32 or s in BF16_FUSED
        },
        # one split of three blocks: the step's slot (97) lies past the block loaded before the write
        "fused_one_split": {s: check_fused(fp32, s, max_splits=1) for s in ("bf16", "dynamic")},
        "fused_context": {name: check_fused_context(*case) for name, case in FUSED_CONTEXT_CASES.items()},
        "context_splits": check_context_splits(),
        "partials_o_proj": {
            "-".join(map(str, case)): check_partials_o_proj(getattr(torch, case[0]), *case[1:3], 340, case[3])
            for case in PARTIALS_CASES
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()


def test_prefetch_blocks_outside_the_held_range_are_refused_in_one_line():
    import torch

    from vlmq.engine.kernels.attention import launch_decode_attention
    from vlmq.errors import VlmqError

    q, k = torch.zeros(1, 2, 1, 32), torch.zeros(1, 1, 64, 32)
    for blocks in (0, 9):
        with pytest.raises(VlmqError, match=r"prefetch_blocks is 1\.\.8 \(cache blocks loaded before") as err:
            launch_decode_attention(q, k, k, None, None, torch.ones(1, 64, dtype=torch.bool), prefetch_blocks=blocks)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "keyword, value, message",
    [
        ("combine_form", 2, r"combine_form is 0 \(one \[splits, rows, D\] tile\) or 1"),
        ("num_stages", 0, r"num_stages is 1, 2 or 3 \(the pipeliner's depth"),
        ("num_stages", 4, r"num_stages is 1, 2 or 3 \(the pipeliner's depth"),
        ("rounding", 2, r"rounding is 0 \(integer arithmetic\) or 1"),
        ("rounding", -1, r"rounding is 0 \(integer arithmetic\) or 1"),
        ("block_l", 48, r"block_l is 32 or 64 \(cache slots a block\)"),
    ],
)
def test_plan_keywords_out_of_range_are_refused_in_one_line(keyword, value, message):
    import torch

    from vlmq.engine.kernels.attention import launch_decode_attention
    from vlmq.errors import VlmqError

    q, k = torch.zeros(1, 2, 1, 32), torch.zeros(1, 1, 64, 32)
    with pytest.raises(VlmqError, match=message) as err:
        launch_decode_attention(q, k, k, None, None, torch.ones(1, 64, dtype=torch.bool), **{keyword: value})
    assert "\n" not in str(err.value)
