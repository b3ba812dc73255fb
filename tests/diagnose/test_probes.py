"""Range and saturation probes against a direct computation on captured K/V tensors."""

import dataclasses
import math

import pytest
import torch

from vlmq.diagnose import ActivationProbe, KVRangeProbe, KVSaturationProbe, kv_scale_tables
from vlmq.diagnose.probes import TOKEN_TYPES
from vlmq.engine import Engine, KVConfig
from vlmq.engine.kv_cache import per_layer_scale_tables
from vlmq.errors import VlmqError
from vlmq.numerics import FP8_MAX
from vlmq.recipes import KVAmaxObserver, kv_scales_from_stats


def _run(engine, prompts, observer, new_tokens=3):
    with engine.observe(observer):
        for prompt in prompts:
            engine.generate([prompt], new_tokens, ignore_eos=True)


def _direct_values(seen, layer, tensor, kind):
    """|x| of one layer/tensor/token type as [H, N] straight from the captured tensors."""
    chunks = []
    for idx, k, v, token_type in seen:
        if idx != layer:
            continue
        x = (k if tensor == "k" else v).abs().float().permute(0, 2, 1, 3)[token_type == kind]  # [N, H, D]
        chunks.append(x.permute(1, 0, 2).reshape(x.shape[1], -1))
    return torch.cat(chunks, dim=1)


def test_kv_ranges_match_a_direct_computation_per_token_type(tiny, prompts, tee):
    probe = KVRangeProbe()
    capture = tee(probe)
    _run(Engine(tiny), prompts, capture)
    rows = {(r["layer"], r["head"], r["tensor"], r["token_type"]): r for r in probe.rows()}
    assert {r[3] for r in rows} == {"text", "visual", "generated"}
    for layer in (0, 1):
        for tensor in ("k", "v"):
            for kind, name in TOKEN_TYPES.items():
                values = _direct_values(capture.seen, layer, tensor, kind)
                q = torch.quantile(values, torch.tensor([0.99, 0.999]), dim=1)
                for head in range(values.shape[0]):
                    row = rows[(layer, head, tensor, name)]
                    assert row["absmax"] == pytest.approx(float(values[head].max()))
                    assert row["p99"] == pytest.approx(float(q[0, head]), rel=1e-5)
                    assert row["p999"] == pytest.approx(float(q[1, head]), rel=1e-5)
                    assert row["n"] == values.shape[1]


def test_percentiles_stay_close_when_the_sample_is_thinned(tiny, prompts):
    exact, thinned = KVRangeProbe(), KVRangeProbe(max_kept=512)
    _run(Engine(tiny), prompts, lambda *a: (exact(*a), thinned(*a)))
    for a, b in zip(exact.rows(), thinned.rows()):
        assert a["absmax"] == b["absmax"]  # the maximum is never sampled
        assert b["p99"] == pytest.approx(a["p99"], rel=0.25)


def _static_scales(tiny, prompts, margin=1.0):
    observer = KVAmaxObserver()
    _run(Engine(tiny), prompts, observer)
    return kv_scales_from_stats(observer.stats(), "static", margin=margin)


def _saturation(tiny, prompts, scales, tee):
    kv = KVConfig("fp8", "static", scales)
    probe = KVSaturationProbe(per_layer_scale_tables(kv, 2, 2))
    capture = tee(probe)
    _run(Engine(tiny), prompts, capture)  # BF16 cache: every layer sees the same K/V in both runs
    return probe.rows("test"), capture.seen


def test_a_scale_set_too_small_saturates_where_a_calibrated_one_does_not(tiny, prompts, tee):
    good = _static_scales(tiny, prompts)
    rows, _ = _saturation(tiny, prompts, good, tee)
    assert max(r["saturated_frac"] for r in rows) == 0.0
    assert min(r["sqnr_db"] for r in rows) > 25  # e4m3 has 3 mantissa bits: ~30 dB

    small = dataclasses.replace(good, k=good.k / 8, v=good.v / 8)
    rows, seen = _saturation(tiny, prompts, small, tee)
    assert min(r["saturated_frac"] for r in rows if r["token_type"] != "generated") > 0
    # the counted fraction equals |x / scale| >= 464 on the captured tensors
    layer0_k_visual = next(r for r in rows if (r["layer"], r["tensor"], r["token_type"]) == (0, "k", "visual"))
    values = _direct_values(seen, 0, "k", 1)
    direct = float((values / float(small.k[0].max()) >= FP8_MAX + 16).float().mean())  # 464: see saturation.py
    assert layer0_k_visual["saturated_frac"] == pytest.approx(direct)
    assert min(r["sqnr_db"] for r in rows) < 25


def test_saturation_needs_an_fp8_cache():
    with pytest.raises(VlmqError, match="kv_fp8"):
        kv_scale_tables(KVConfig(), 2, 2)


def test_activation_probe_matches_the_linear_inputs_and_removes_its_hooks(tiny, prompts):
    from vlmq.models import decoder_layers

    down = decoder_layers(tiny.model)[1].mlp.down_proj
    inputs = []
    handle = down.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach().abs().float()))
    with ActivationProbe(tiny.model) as probe:
        Engine(tiny).next_token_logits(prompts[:2])
    handle.remove()
    direct = torch.cat([x.reshape(-1, x.shape[-1]) for x in inputs]).amax(dim=0)
    row = next(r for r in probe.rows() if (r["layer"], r["module"]) == (1, "down_proj"))
    assert row["absmax"] == pytest.approx(float(direct.max()))
    assert row["top_ratio"] == pytest.approx(float(direct.max() / direct.median()))
    assert int(row["top_channels"].split(":")[0]) == int(direct.argmax())
    assert all(not m._forward_pre_hooks for m in tiny.model.modules() if m is not down)
    assert math.isfinite(row["median_channel_absmax"])
