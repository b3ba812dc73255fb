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
import subprocess
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


@pytest.fixture(scope="module")
def results():
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


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


@pytest.mark.parametrize(
    "heads, length, fp8, want",
    [
        (2, 364, False, (6, True)),  # batch 1, 300-token context: one launch (10.2 vs 10.5 us)
        (2, 364, True, (6, False)),  # ... FP8 cache: split + combine kernels (12.0 vs 12.4)
        (32, 364, False, (6, False)),  # batch 16: two launches (13.0 vs 14.9)
        (32, 2112, False, (7, True)),  # 2k context, batch 16: one launch, 256 programs (22.0 vs 30.9 at 512)
        (32, 8256, True, (15, True)),  # 8k, batch 16, FP8: one launch, 512 programs (53.5 vs 58.9 at 256)
        (2, 8256, False, (22, True)),  # 8k, batch 1: one launch
    ],
)
def test_attention_plan_follows_the_measurements(heads, length, fp8, want):
    """The launch plan reproduces the choices of the H200 table in attention.py (no Triton needed)."""
    from vlmq.engine.kernels.attention import attention_plan

    splits, _, combine_in_kernel = attention_plan(heads, length, fp8)
    assert (splits, combine_in_kernel) == want


# ----- the checks (run as a script under TRITON_INTERPRET=1) -------------------------------------------------
def make_cache(strategy, dtype, *, rows=4, hkv=2, length=11, d=32, seed=1):
    import torch

    from vlmq.engine.kv_cache import StaticKVCache
    from vlmq.engine.types import KVConfig, KVScales

    g = torch.Generator().manual_seed(seed)
    scales = KVScales(*(torch.rand(1, hkv, generator=g) * 0.02 + 0.004 for _ in range(4)))
    kv = KVConfig() if strategy == "bf16" else KVConfig("fp8", strategy, None if strategy == "dynamic" else scales)
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


def cache_state(cache):
    return [t.clone() for t in (*cache.k, *cache.v, *cache.k_scale, *cache.v_scale)]


def check_rope_kv(dtype, strategy):
    import torch

    from vlmq.engine.kernels.rope_kv import launch_rope_kv, rope_kv_reference

    b, t, hq, hkv, d = 3, 5, 6, 2, 32
    q, k, v, cos, sin, token_type = projections(b, t, hq, hkv, d, dtype, seed=2)
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
        "q_equal": torch.equal(out.transpose(1, 2), ref_q),
        "cache_equal": all(torch.equal(x, y) for x, y in zip(after[:n_entry], ref_after[:n_entry])),
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
    key_valid[1, 40:] = False
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
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
