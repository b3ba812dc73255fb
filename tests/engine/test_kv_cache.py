"""FP8 KV cache formats, scale policies and the observe hook (CPU, tiny model)."""

import pytest
import torch

from vlmq.engine import Engine, KVConfig, KVScales, Prompt
from vlmq.engine.kv_cache import StaticKVCache, dequantize_fp8, quantize_fp8
from vlmq.engine.rope import prompt_position_ids
from vlmq.engine.types import GENERATED, PADDING, TEXT, VISUAL
from vlmq.errors import VlmqError
from vlmq.numerics import FP8_MAX


def calibrated_scales(engine, prompts, visual_aware=False) -> KVScales:
    """absmax/448 per layer and head, measured through observe (like the recipes' calibration)."""
    n_layers, n_heads = engine.decoder.num_layers, engine.decoder.num_kv_heads
    amax = {name: torch.zeros(n_layers, n_heads) for name in ("k", "v", "k_vis", "v_vis")}

    def observer(layer, k, v, token_type):
        for name, x in (("k", k), ("v", v)):
            for suffix, keep in (("", token_type != VISUAL), ("_vis", token_type == VISUAL)):
                sel = x.float().abs() * keep[:, None, :, None]
                amax[name + suffix][layer] = torch.maximum(amax[name + suffix][layer], sel.amax(dim=(0, 2, 3)))

    with engine.observe(observer):
        engine.generate(prompts, 4, ignore_eos=True)
    s = {name: (a / FP8_MAX).clamp_min(1e-6) for name, a in amax.items()}
    if visual_aware:
        return KVScales(k=s["k"], v=s["v"], k_visual=s["k_vis"], v_visual=s["v_vis"])
    return KVScales(k=torch.maximum(s["k"], s["k_vis"]), v=torch.maximum(s["v"], s["v_vis"]))


@pytest.fixture(scope="module")
def prompts(images):
    return [Prompt("What is in the image?", images[0])]


def test_fp8_cache_stores_uint8_half_the_bytes(tiny_bf16, prompts):
    bf16 = Engine(tiny_bf16)
    fp8 = Engine(tiny_bf16, kv=KVConfig(dtype="fp8", strategy="dynamic"))
    assert fp8.cache.k[0].dtype == torch.uint8 and bf16.cache.k[0].dtype == torch.bfloat16
    entries = lambda c: sum(t.numel() * t.element_size() for t in (*c.k, *c.v))
    assert entries(fp8.cache) * 2 == entries(bf16.cache)


def test_fp8_with_good_scales_matches_bf16_tokens(tiny_fp32, prompts):
    # float32 model: the random tiny model has near-ties (top-2 logits 3e-4 apart at some steps) that
    # bf16 rounding alone can flip; in float32 only the FP8 rounding of K/V differs between the runs.
    engine = Engine(tiny_fp32)
    reference = engine.generate(prompts, 8, ignore_eos=True)[0].token_ids
    ref_logits = engine.next_token_logits(prompts)
    engine.set_kv(KVConfig(dtype="fp8", strategy="per_head", scales=calibrated_scales(engine, prompts)))
    assert engine.generate(prompts, 8, ignore_eos=True)[0].token_ids == reference
    for kv in (engine.kv, KVConfig(dtype="fp8", strategy="dynamic")):
        engine.set_kv(kv)
        logits = engine.next_token_logits(prompts)
        assert torch.nn.functional.cosine_similarity(logits, ref_logits).item() > 0.9999
        assert (logits - ref_logits).abs().max().item() < 0.02


def test_absurdly_small_scales_saturate_and_change_output(tiny_bf16, prompts):
    engine = Engine(tiny_bf16)
    ref_logits = engine.next_token_logits(prompts)
    n_layers, n_heads = engine.decoder.num_layers, engine.decoder.num_kv_heads
    tiny = torch.full((n_layers, n_heads), 1e-6)
    engine.set_kv(KVConfig(dtype="fp8", strategy="static", scales=KVScales(k=tiny, v=tiny)))
    logits = engine.next_token_logits(prompts)
    k, _ = engine.cache.read(0, 1, 10)
    saturated = torch.isclose(k.float().abs(), torch.full_like(k.float(), FP8_MAX * 1e-6), rtol=0.01)
    assert saturated.float().mean().item() > 0.9
    cos = torch.nn.functional.cosine_similarity(logits, ref_logits).item()
    assert cos < 0.99


def written_scales(engine, prompts):
    """Prefill once; return (k, v, token_type) as observed per layer and the k-scale buffer's prompt slots."""
    seen = {}
    with engine.observe(lambda layer, k, v, tt: seen.setdefault(layer, (k.clone(), v.clone(), tt.clone()))):
        engine.next_token_logits(prompts)
    return seen


def test_dynamic_policy_writes_per_token_head_amax(tiny_bf16, prompts):
    engine = Engine(tiny_bf16, kv=KVConfig(dtype="fp8", strategy="dynamic"))
    seen = written_scales(engine, prompts)
    for layer, (k, v, _) in seen.items():
        t = k.shape[2]
        torch.testing.assert_close(engine.cache.k_scale[layer][:1, :, :t], k.float().abs().amax(-1) / FP8_MAX)
        torch.testing.assert_close(engine.cache.v_scale[layer][:1, :, :t], v.float().abs().amax(-1) / FP8_MAX)


@pytest.mark.parametrize("strategy", ["static", "per_head", "visual_aware"])
def test_calibrated_policies_write_their_scales(tiny_bf16, prompts, strategy):
    engine = Engine(tiny_bf16)
    n_layers, n_heads = engine.decoder.num_layers, engine.decoder.num_kv_heads
    k = torch.arange(1, n_layers * n_heads + 1, dtype=torch.float32).view(n_layers, n_heads) * 0.01
    scales = KVScales(k=k, v=k * 2, k_visual=k * 3, v_visual=k * 4)
    engine.set_kv(KVConfig(dtype="fp8", strategy=strategy, scales=scales))
    seen = written_scales(engine, prompts)
    for layer, (_, _, token_type) in seen.items():
        t = token_type.shape[1]
        is_visual = (token_type[0] == VISUAL)[None, :]
        if strategy == "static":
            expected_k = k[layer].max().expand(n_heads, t)
        elif strategy == "per_head":
            expected_k = k[layer][:, None].expand(n_heads, t)
        else:
            expected_k = torch.where(is_visual, scales.k_visual[layer][:, None], k[layer][:, None])
        torch.testing.assert_close(engine.cache.k_scale[layer][0, :, :t], expected_k)
    assert bool((seen[0][2] == VISUAL).any())  # the visual branch was exercised


def test_quantize_roundtrip_and_saturation():
    x = torch.tensor([[[[0.5, -1.0, 2.0, 1000.0]]]])
    scale = torch.ones(1, 1, 1)
    bits = quantize_fp8(x, scale)
    assert bits.dtype == torch.uint8
    back = dequantize_fp8(bits, scale, torch.float32)
    assert back[..., :3].tolist() == [[[[0.5, -1.0, 2.0]]]]
    assert back[..., 3].item() == FP8_MAX


def test_observe_delivers_k_after_rope_with_token_types(tiny_fp32, images):
    engine = Engine(tiny_fp32)
    prompts = [Prompt("What is in the image?", images[0])]
    calls = []
    with engine.observe(lambda layer, k, v, tt: calls.append((layer, k.clone(), v.clone(), tt.clone()))):
        gen = engine.generate(prompts, 3, ignore_eos=True)[0]
    n_layers = engine.decoder.num_layers
    assert len(calls) == 3 * n_layers  # prefill + two decode steps
    prefill = [c for c in calls if c[3].shape[1] > 1]
    decode = [c for c in calls if c[3].shape[1] == 1]
    assert [c[0] for c in prefill] == list(range(n_layers))
    token_type = prefill[0][3]
    assert int((token_type == VISUAL).sum()) == gen.n_visual_tokens > 0
    assert set(token_type.unique().tolist()) == {TEXT, VISUAL}
    assert all(bool((c[3] == GENERATED).all()) for c in decode)

    # K of layer 0 recomputed with HF's own projections and rotary embedding.
    model = tiny_fp32.model
    hooked = {}
    layer0 = model.model.language_model.layers[0]
    handle = layer0.self_attn.k_proj.register_forward_hook(lambda m, i, o: hooked.setdefault("k", o))
    from transformers.models.qwen2_vl.modeling_qwen2_vl import apply_rotary_pos_emb

    from vlmq.engine.inputs import encode_prompts

    b = encode_prompts(tiny_fp32.processor, prompts, torch.device("cpu"))
    model.model.rope_deltas = None
    with torch.no_grad():
        model(
            input_ids=b.input_ids,
            attention_mask=b.attention_mask,
            pixel_values=b.pixel_values,
            image_grid_thw=b.image_grid_thw,
            mm_token_type_ids=b.mm_token_type_ids,
        )
    handle.remove()
    pos = prompt_position_ids(model, b.input_ids, b.mm_token_type_ids, b.image_grid_thw, b.attention_mask)
    k_raw = hooked["k"].view(1, pos.shape[2], engine.decoder.num_kv_heads, -1).transpose(1, 2)
    cos, sin = model.model.language_model.rotary_emb(k_raw, pos)
    _, k_rope = apply_rotary_pos_emb(k_raw, k_raw, cos, sin)
    observed = prefill[0][1]
    torch.testing.assert_close(observed, k_rope, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(observed, k_raw, atol=1e-3)


def test_padding_slots_are_typed_padding(tiny_bf16, images):
    engine = Engine(tiny_bf16, max_batch_size=2)
    types = []
    with engine.observe(lambda layer, k, v, tt: types.append(tt) if layer == 0 else None):
        engine.next_token_logits([Prompt("Hi", None), Prompt("What is in the image?", images[0])])
    assert bool((types[0][0] == PADDING).any()) and not bool((types[0][1] == PADDING).any())


@pytest.mark.parametrize(
    "kv",
    [
        KVConfig(dtype="int4"),
        KVConfig(dtype="fp8", strategy="nope"),
        KVConfig(dtype="fp8", strategy="per_head"),  # no scales
        KVConfig(dtype="fp8", strategy="per_head", scales=KVScales(k=torch.ones(1, 1), v=torch.ones(1, 1))),
        KVConfig(dtype="fp8", strategy="visual_aware", scales=KVScales(k=torch.ones(2, 2), v=torch.ones(2, 2))),
        KVConfig(dtype="fp8", strategy="static", scales=KVScales(k=torch.zeros(2, 2), v=torch.ones(2, 2))),
    ],
)
def test_bad_kv_config_raises(tiny_bf16, kv):
    with pytest.raises(VlmqError):
        Engine(tiny_bf16, kv=kv)


def test_cache_nbytes_counts_scales():
    common = dict(
        num_layers=2,
        max_batch_size=1,
        num_kv_heads=2,
        max_seq_len=8,
        head_dim=4,
        dtype=torch.bfloat16,
        device=torch.device("cpu"),
    )
    bf16 = StaticKVCache(kv=KVConfig(), **common)
    fp8 = StaticKVCache(kv=KVConfig(dtype="fp8", strategy="dynamic"), **common)
    assert bf16.nbytes() == 2 * 2 * 2 * 8 * 4 * 2
    assert fp8.nbytes() == 2 * 2 * 2 * 8 * 4 * 1 + 2 * 2 * 2 * 8 * 4  # uint8 entries + fp32 scales


@pytest.mark.parametrize("kv_dtype", ["bf16", "fp8"])
def test_fused_decode_attention_op_matches_dense_path(tiny_fp32, images, kv_dtype):
    """vlmq::decode_attention (its CPU reference here; the Triton kernel on GPU) in the decode steps
    gives the eager engine's tokens."""
    from vlmq.engine.kernels import decode_attention

    kv = KVConfig(dtype=kv_dtype, strategy="dynamic")
    prompts = [Prompt("What is in the image?", images[0])]
    reference = Engine(tiny_fp32, kv=kv).generate(prompts, 6, ignore_eos=True)[0].token_ids
    engine = Engine(tiny_fp32, kv=kv)
    dense = engine.decoder.attend

    def attend(q, layer_kv, read_len, mask):  # prefill: dense; decode: the fused op over the whole cache
        if q.shape[2] > 1:
            return dense(q, layer_kv, read_len, mask)
        b, length = q.shape[0], layer_kv.k.shape[2]
        full = torch.zeros(b, 1, 1, length, dtype=torch.bool)
        full[..., : mask.shape[-1]] = mask[:, :, -1:, :]
        return decode_attention(q, layer_kv.k, layer_kv.v, layer_kv.k_scale, layer_kv.v_scale, full[:, 0, 0, :])

    engine.decoder.attend = attend
    assert engine.generate(prompts, 6, ignore_eos=True)[0].token_ids == reference


def test_kv_config_for_kind_names_every_cache():
    scales = KVScales(torch.ones(1, 2), torch.ones(1, 2))
    assert KVConfig.for_kind("bf16", scales) == KVConfig()
    assert KVConfig.for_kind("dynamic", scales) == KVConfig("fp8", "dynamic", None)  # scales itself
    assert KVConfig.for_kind("per_head", scales) == KVConfig("fp8", "per_head", scales)


@pytest.mark.parametrize("strategy", ["static", "per_head", "visual_aware"])
def test_each_layers_scale_tables_are_their_own_aligned_tensors(strategy):
    """The FP8 scale tables a layer hands to the compiled layer are separate allocations, not rows of one
    [layers, heads] tensor: a row of 2 float32 heads sits 8 bytes after the previous one, and Inductor copies
    inputs that are not 16-byte aligned before every call (measured: 4 copy kernels a layer on every odd layer of
    qwen2-vl-2b on the H200). The values are the strategy's per-layer scales."""
    layers, heads = 5, 2
    scales = KVScales(*(torch.rand(layers, heads) + 0.1 for _ in range(4)))
    kv = KVConfig("fp8", strategy, scales)
    cache = StaticKVCache(
        num_layers=layers,
        max_batch_size=1,
        num_kv_heads=heads,
        max_seq_len=16,
        head_dim=8,
        dtype=torch.bfloat16,
        device=torch.device("cpu"),
        kv=kv,
    )
    for idx in range(layers):
        tables = cache.layer(idx).tables
        assert len(tables) == 4 and all(t.data_ptr() % 16 == 0 and t.shape == (heads,) for t in tables)
        assert len({t.data_ptr() for t in tables}) == 4
        want_k = scales.k[idx].amax().expand(heads) if strategy == "static" else scales.k[idx]
        assert torch.equal(tables[0], want_k)
        want_vis = scales.k_visual[idx] if strategy == "visual_aware" else want_k
        assert torch.equal(tables[2], want_vis)
