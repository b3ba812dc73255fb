"""Pareto frontier and recommendations on hand-made result sets (ties and non-significant differences)."""

import pytest

from vlmq.report.summary import (
    headline_ablations, pareto_front, recommend, speed_accuracy_points, summarize)


def test_pareto_front_keeps_non_dominated_points_and_ties():
    points = {"a": (1.0, 0.90), "b": (2.0, 0.90), "c": (2.0, 0.90), "d": (1.5, 0.95), "e": (1.2, 0.80)}
    # a is dominated by b (faster, same accuracy); e by d; b and c tie exactly and both stay
    assert pareto_front(points) == ["b", "c", "d"]
    assert pareto_front({"only": (1.0, 1.0)}) == ["only"]


def _records(spec):
    """spec: recipe -> (vqa value, delta, p, decode_ms, static_gb)."""
    recs = []
    for recipe, (value, delta, p, decode, vram) in spec.items():
        rec = {"recipe": recipe, "task": "vqav2", "metric": "accuracy", "value": value, "ci_low": value - 0.02,
               "ci_high": value + 0.02}
        if delta is not None:
            rec.update(delta=delta, p_value=p)
        recs.append(rec)
        if decode is not None:
            recs += [{"recipe": recipe, "task": "speed", "metric": "decode_ms_per_token", "value": decode},
                     {"recipe": recipe, "task": "speed", "metric": "ttft_ms", "value": 10.0},
                     {"recipe": recipe, "task": "speed", "metric": "static_vram_gb", "value": vram}]
    return recs


def _summaries(spec, kernels=None, calibrated=()):
    outcomes = {r: {"status": "ok", "kernel": (kernels or {}).get(r, "real")} for r in spec}
    return summarize(_records(spec), outcomes, set(calibrated))


def test_recommendations_pick_the_fast_lossless_recipe_and_warn_about_a_significant_loss():
    spec = {"bf16": (0.80, None, None, 2.0, 4.0),
            "int8_wo": (0.80, 0.0, 0.9, 1.2, 2.5),
            "int4_wo": (0.70, -0.10, 0.001, 0.8, 1.8),
            "smoothquant": (0.805, 0.005, 0.6, 1.0, 2.5)}
    recs = {r.title: r for r in recommend(_summaries(spec, calibrated={"smoothquant"}), "bf16")}
    assert recs["Best accuracy-speed balance"].recipe == "smoothquant"  # fastest frontier point without a loss
    assert recs["Fastest + smallest"].recipe == "int4_wo"
    assert "significantly lower on vqav2" in recs["Fastest + smallest"].reason
    assert recs["Safe default, no calibration"].recipe == "int8_wo"  # smoothquant needs calibration
    assert recs["Warning"].recipe == "int4_wo" and "-0.1" in recs["Warning"].reason
    assert "int8_wo" in recs["Not significant"].reason and "smoothquant" in recs["Not significant"].reason


def test_no_real_speed_means_no_speed_ranking():
    spec = {"bf16": (0.80, None, None, None, None), "fp8": (0.79, -0.01, 0.4, None, None)}
    summaries = _summaries(spec, kernels={"fp8": "emulated"})
    assert speed_accuracy_points(summaries, "bf16") == {}
    recs = recommend(summaries, "bf16")
    assert recs[0].recipe is None and "no real-kernel speed" in recs[0].reason
    assert any(r.title == "Not significant" and "fp8" in r.reason for r in recs)


def test_emulated_recipes_never_enter_the_speed_ranking():
    spec = {"bf16": (0.8, None, None, 2.0, 4.0), "nvfp4": (0.8, 0.0, 1.0, 0.5, 1.0)}
    points = speed_accuracy_points(_summaries(spec, kernels={"nvfp4": "emulated"}), "bf16")
    assert set(points) == {"bf16"}


def test_when_every_faster_recipe_loses_the_baseline_is_the_balance():
    spec = {"bf16": (0.80, None, None, 2.0, 4.0), "int4_wo": (0.60, -0.2, 0.0001, 0.8, 1.8)}
    recs = {r.title: r for r in recommend(_summaries(spec), "bf16")}
    assert recs["Best accuracy-speed balance"].recipe == "bf16"


def test_headline_ablations_keep_headline_metrics_in_report_units():
    rows = [{"recipe": "fp8+kv_fp8", "without": "fp8", "switch": "kv_fp8", "task": "vqav2", "metric": "accuracy",
             "delta": -0.088, "ci_low": -0.1, "ci_high": -0.07, "p_value": 0.001, "test": "paired_bootstrap"},
            {"recipe": "fp8+kv_fp8", "without": "fp8", "switch": "kv_fp8", "task": "pope/random", "metric": "f1",
             "delta": -0.01, "ci_low": None, "ci_high": None, "p_value": 0.5, "test": "paired_bootstrap"},
            {"recipe": "fp8+kv_fp8", "without": "fp8", "switch": "kv_fp8", "task": "mme", "metric": "perception_total",
             "delta": -189.0, "ci_low": -220.0, "ci_high": -150.0, "p_value": 0.001, "test": "paired_bootstrap"}]
    out = headline_ablations(rows)
    assert [(r["task"], r["unit"]) for r in out] == [("vqav2", "%"), ("mme", "pts")]
    assert out[0]["delta"] == pytest.approx(-8.8) and out[1]["delta"] == -189.0
