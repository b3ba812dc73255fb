import pytest
import torch

from vlmq.engine import Engine, KVConfig
from vlmq.errors import VlmqError
from vlmq.recipes import KVAmaxObserver, KVStats, calibrate_kv_scales, kv_scales_from_stats, parse_recipe

TEXT_K, VISUAL_K, TEXT_V, VISUAL_V = 2.0, 448.0 * 3, 1.0, 5.0


def _observe_synthetic_layers(observer, num_layers=2):
    """Two KV heads; head 1 is twice head 0; visual tokens (type 1) are far larger than text ones."""
    token_type = torch.tensor([[0, 1, 1, 0, 2]])
    base = torch.where(token_type == 1, 1.0, 0.0)[:, None, :, None]  # [B, 1, T, 1]
    for layer in range(num_layers):
        head = torch.tensor([1.0, 2.0])[None, :, None, None] * (layer + 1)
        k = (TEXT_K + (VISUAL_K - TEXT_K) * base) * head * torch.ones(1, 2, 5, 4)
        v = -(TEXT_V + (VISUAL_V - TEXT_V) * base) * head * torch.ones(1, 2, 5, 4)
        observer(layer, k, v, token_type)


@pytest.fixture
def stats():
    observer = KVAmaxObserver()
    _observe_synthetic_layers(observer)
    return observer.stats()


def test_observer_collects_amax_per_layer_head_and_token_type(stats):
    assert stats.k_amax.shape == (2, 2, 3)
    assert stats.k_amax[1, 1].tolist() == [TEXT_K * 4, VISUAL_K * 4, TEXT_K * 4]  # layer 1, head 1
    assert stats.v_amax[0, 0].tolist() == [TEXT_V, VISUAL_V, TEXT_V]  # absolute value of negatives


def test_observer_keeps_the_running_max_and_ignores_padding():
    observer = KVAmaxObserver()
    observer(0, torch.full((1, 1, 2, 2), 3.0), torch.full((1, 1, 2, 2), 3.0), torch.tensor([[0, 0]]))
    observer(0, torch.full((1, 1, 2, 2), 1.0), torch.full((1, 1, 2, 2), 9.0), torch.tensor([[0, -1]]))
    observer(0, torch.full((1, 1, 1, 2), 50.0), torch.full((1, 1, 1, 2), 50.0), torch.tensor([[-1]]))
    s = observer.stats()
    assert s.k_amax[0, 0, 0] == 3.0 and s.v_amax[0, 0, 0] == 9.0  # padding (-1) never counted


def test_static_is_one_per_tensor_scale_per_layer(stats):
    scales = kv_scales_from_stats(stats, "static")
    assert scales.k.shape == (2, 2) and scales.k.dtype == torch.float32
    assert torch.allclose(scales.k[0], torch.full((2,), VISUAL_K * 2 / 448))  # max over heads and types
    assert torch.allclose(scales.v[1], torch.full((2,), VISUAL_V * 4 / 448))


def test_text_only_scales_are_smaller_when_visual_k_is_larger(stats):
    static, text_only = kv_scales_from_stats(stats, "static"), kv_scales_from_stats(stats, "static_text_only")
    assert torch.allclose(text_only.k[0], torch.full((2,), TEXT_K * 2 / 448))
    assert bool((text_only.k < static.k).all()) and bool((text_only.v < static.v).all())
    # visual K quantized with the text-only scale saturates: the original study's failure
    assert VISUAL_K / text_only.k[0, 0] > 448


def test_per_head_and_visual_aware(stats):
    per_head = kv_scales_from_stats(stats, "per_head")
    assert torch.allclose(per_head.k[0], torch.tensor([VISUAL_K, 2 * VISUAL_K]) / 448)
    aware = kv_scales_from_stats(stats, "visual_aware")
    assert torch.allclose(aware.k[1], torch.full((2,), TEXT_K * 4 / 448))
    assert torch.allclose(aware.k_visual[1], torch.full((2,), VISUAL_K * 4 / 448))
    assert torch.allclose(aware.v_visual[0], torch.full((2,), VISUAL_V * 2 / 448))
    assert kv_scales_from_stats(stats, "static").k_visual is None


def test_dynamic_margin_and_bad_input(stats):
    assert kv_scales_from_stats(stats, "dynamic") is None
    doubled = kv_scales_from_stats(stats, "static", margin=2.0)
    assert torch.allclose(doubled.k, 2 * kv_scales_from_stats(stats, "static").k)
    with pytest.raises(VlmqError, match="unknown KV scale strategy 'minmax'; choose from: static"):
        kv_scales_from_stats(stats, "minmax")
    with pytest.raises(VlmqError, match="margin must be > 0"):
        kv_scales_from_stats(stats, "static", margin=0)
    no_visual = KVStats(stats.k_amax * torch.tensor([1.0, 0.0, 1.0]), stats.v_amax)
    with pytest.raises(VlmqError, match="visual_aware KV scales need calibration prompts with images"):
        kv_scales_from_stats(no_visual, "visual_aware")
    zeros = KVStats(torch.zeros(1, 1, 3), torch.zeros(1, 1, 3))
    assert bool((kv_scales_from_stats(zeros, "static").k > 0).all())  # never a zero scale
    with pytest.raises(VlmqError, match="saw no decoder layer"):
        KVAmaxObserver().stats()


@pytest.mark.parametrize("switch", ["kv_fp8", "kv_fp8_text", "kv_fp8_head", "kv_fp8_vis", "kv_fp8_dyn"])
def test_calibrated_scales_drive_the_engines_fp8_cache(switch, tiny, calib, probe_prompts, bf16_logits):
    spec = parse_recipe(f"bf16+{switch}")
    engine = Engine(tiny)
    scales = calibrate_kv_scales(engine, calib, spec.kv.strategy)
    config = tiny.model.config.get_text_config()
    if spec.kv.strategy == "dynamic":
        assert scales is None
    else:
        assert scales.k.shape == (config.num_hidden_layers, config.num_key_value_heads)
        assert bool((scales.k > 0).all()) and bool((scales.v > 0).all())
        assert (scales.k_visual is not None) == (spec.kv.strategy == "visual_aware")
    engine.set_kv(KVConfig(dtype="fp8", strategy=spec.kv.strategy, scales=scales))
    logits = engine.next_token_logits(probe_prompts)
    assert torch.nn.functional.cosine_similarity(logits, bf16_logits, dim=-1).min() > 0.99


def test_text_only_calibration_never_sees_visual_tokens(tiny, calib, monkeypatch):
    import vlmq.recipes.kv as kv

    seen = []
    real = kv.kv_scales_from_stats
    monkeypatch.setattr(kv, "kv_scales_from_stats", lambda s, *a: seen.append(s) or real(s, *a))
    engine = Engine(tiny)
    calibrate_kv_scales(engine, calib, "static_text_only")
    calibrate_kv_scales(engine, calib, "static")
    text_only, with_images = seen
    assert bool((text_only.k_amax[..., 1] == 0).all())  # visual column empty
    assert bool((with_images.k_amax[..., 1] > 0).all())
    with pytest.raises(VlmqError, match="empty calibration set"):
        calibrate_kv_scales(engine, type(calib)(prompts=(), summary=calib.summary), "static")
