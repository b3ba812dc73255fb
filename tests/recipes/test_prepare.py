"""A recipe's KV part: the engine it builds and the FP8 KV scales it calibrates
(``engine_options``, ``prepare_engine``)."""

import pytest

from vlmq.engine import Engine, KVConfig
from vlmq.errors import VlmqError
from vlmq.recipes import engine_options, parse_recipe, prepare_engine


def test_engine_options_start_bf16_until_scales_exist():
    assert engine_options(parse_recipe("fp8+kv_fp8+fp8_attention")) == {"kv": KVConfig(), "fp8_attention": True}
    dynamic = parse_recipe("int8_wo+kv_fp8_dyn")
    assert engine_options(dynamic)["kv"] == KVConfig(dtype="fp8", strategy="dynamic")
    assert not dynamic.kv_needs_calibration and parse_recipe("bf16+kv_fp8_head").kv_needs_calibration


@pytest.mark.parametrize(
    "name, strategy, image_share",
    [
        ("bf16+kv_fp8", "static", None),
        ("bf16+kv_fp8_text", "static_text_only", 0.0),
        ("bf16+kv_fp8_head", "per_head", None),
    ],
)
def test_prepare_engine_calibrates_the_recipes_kv_scales(tiny, calib, name, strategy, image_share):
    spec = parse_recipe(name)
    engine = Engine(tiny, **engine_options(spec))
    summary = prepare_engine(engine, spec, calib)
    assert engine.kv.dtype == "fp8" and engine.kv.strategy == strategy and engine.kv.scales is not None
    assert summary["n"] == calib.summary["n"]
    assert summary["image_share"] == (calib.summary["image_share"] if image_share is None else image_share)
    assert summary["text_only"] == (strategy == "static_text_only")


def test_prepare_engine_without_calibration_needs(tiny):
    spec = parse_recipe("int8_wo+kv_fp8_dyn")
    engine = Engine(tiny, **engine_options(spec))
    assert prepare_engine(engine, spec, None) is None and engine.kv == spec.kv
    with pytest.raises(VlmqError, match="calibrates FP8 KV scales but got no calibration set"):
        prepare_engine(engine, parse_recipe("bf16+kv_fp8"), None)
