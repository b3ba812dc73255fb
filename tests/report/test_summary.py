"""Pareto frontier and recommendations on hand-made result sets (ties and non-significant differences)."""

import pytest

from vlmq.report.summary import (
    Point,
    headline_ablations,
    memory_label,
    pareto_front,
    recommend,
    speed_accuracy_points,
    speed_caveat,
    summarize,
)


def test_pareto_front_keeps_non_dominated_points_and_ties():
    points = {"a": (1.0, 0.90), "b": (2.0, 0.90), "c": (2.0, 0.90), "d": (1.5, 0.95), "e": (1.2, 0.80)}
    # a is dominated by b (faster, same accuracy); e by d; b and c tie exactly and both stay
    assert pareto_front(points) == ["b", "c", "d"]
    assert pareto_front({"only": (1.0, 1.0)}) == ["only"]


def _records(spec):
    """spec: recipe -> (vqa value, delta, p, decode_ms, static_gb)."""
    recs = []
    for recipe, (value, delta, p, decode, vram) in spec.items():
        rec = {
            "recipe": recipe,
            "task": "vqav2",
            "metric": "accuracy",
            "value": value,
            "ci_low": value - 0.02,
            "ci_high": value + 0.02,
        }
        if delta is not None:
            rec.update(delta=delta, p_value=p)
        recs.append(rec)
        if decode is not None:
            recs += [
                {"recipe": recipe, "task": "speed", "metric": "decode_ms_per_token", "value": decode},
                {"recipe": recipe, "task": "speed", "metric": "ttft_ms", "value": 10.0},
                {"recipe": recipe, "task": "speed", "metric": "static_vram_gb", "value": vram},
            ]
    return recs


def _summaries(spec, kernels=None, calibrated=()):
    outcomes = {r: {"status": "ok", "kernel": (kernels or {}).get(r, "real")} for r in spec}
    return summarize(_records(spec), outcomes, set(calibrated))


def test_recommendations_pick_the_fast_lossless_recipe_and_warn_about_a_significant_loss():
    spec = {
        "bf16": (0.80, None, None, 2.0, 4.0),
        "int8_wo": (0.80, 0.0, 0.9, 1.2, 2.5),
        "int4_wo": (0.70, -0.10, 0.001, 0.8, 1.8),
        "smoothquant": (0.805, 0.005, 0.6, 1.0, 2.5),
    }
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
    rows = [
        {
            "recipe": "fp8+kv_fp8",
            "without": "fp8",
            "switch": "kv_fp8",
            "task": "vqav2",
            "metric": "accuracy",
            "delta": -0.088,
            "ci_low": -0.1,
            "ci_high": -0.07,
            "p_value": 0.001,
            "test": "paired_bootstrap",
        },
        {
            "recipe": "fp8+kv_fp8",
            "without": "fp8",
            "switch": "kv_fp8",
            "task": "pope/random",
            "metric": "f1",
            "delta": -0.01,
            "ci_low": None,
            "ci_high": None,
            "p_value": 0.5,
            "test": "paired_bootstrap",
        },
        {
            "recipe": "fp8+kv_fp8",
            "without": "fp8",
            "switch": "kv_fp8",
            "task": "mme",
            "metric": "perception_total",
            "delta": -189.0,
            "ci_low": -220.0,
            "ci_high": -150.0,
            "p_value": 0.001,
            "test": "paired_bootstrap",
        },
    ]
    out = headline_ablations(rows)
    assert [(r["task"], r["unit"]) for r in out] == [("vqav2", "%"), ("mme", "pts")]
    assert out[0]["delta"] == pytest.approx(-8.8) and out[1]["delta"] == -189.0


# --- honesty and fidelity (#18) -------------------------------------------------------------------


def _timed(recipe, decode, spread, device="NVIDIA H200", vram=2.0):
    low, high = spread
    return [
        {
            "recipe": recipe,
            "task": "speed",
            "metric": "decode_ms_per_token",
            "value": decode,
            "ci_low": low,
            "ci_high": high,
            "device": device,
        },
        {"recipe": recipe, "task": "speed", "metric": "ttft_ms", "value": 10.0, "device": device},
        {"recipe": recipe, "task": "speed", "metric": "static_vram_gb", "value": vram, "device": device},
    ]


def _accuracy(recipe, value=0.8, delta=None, p=None):
    rec = {
        "recipe": recipe,
        "task": "vqav2",
        "metric": "accuracy",
        "value": value,
        "ci_low": value - 0.02,
        "ci_high": value + 0.02,
    }
    return [dict(rec, delta=delta, p_value=p) if delta is not None else rec]


def _kl(recipe, value, low, high):
    return [
        {
            "recipe": recipe,
            "task": "all",
            "metric": "kl_mean",
            "kind": "fidelity",
            "value": value,
            "ci_low": low,
            "ci_high": high,
        },
        {"recipe": recipe, "task": "all", "metric": "top1_agreement", "kind": "fidelity", "value": 0.97},
    ]


def _outcomes(names, params=2_000_000_000, calibrated=()):
    details = {"formats": {"bfloat16": {"params": params}}}
    return {n: {"status": "ok", "kernel": "real", "details": details} for n in names}, set(calibrated)


def test_speed_caveat_names_the_cpu_and_the_small_model():
    big_gpu = summarize(_timed("bf16", 2.0, (1.9, 2.1)) + _accuracy("bf16"), *_outcomes(["bf16"]))
    assert speed_caveat(big_gpu) is None
    cpu = summarize(_timed("bf16", 2.0, (1.9, 2.1), device="cpu") + _accuracy("bf16"), *_outcomes(["bf16"]))
    assert speed_caveat(cpu) == "measured on the CPU: not indicative of GPU deployment"
    tiny = summarize(_timed("bf16", 2.0, (1.9, 2.1)) + _accuracy("bf16"), *_outcomes(["bf16"], params=3_000_000))
    assert "model of 3 M decoder parameters (< 100 M)" in speed_caveat(tiny)
    assert memory_label("cpu (x86_64, 2 threads)") == "memory" and memory_label("NVIDIA H200") == "VRAM"


def test_recommendations_resting_on_cpu_timings_say_so_in_the_same_sentence():
    records = (
        _timed("bf16", 2.0, (1.9, 2.1), device="cpu")
        + _accuracy("bf16")
        + _timed("int8_wo", 1.0, (0.9, 1.1), device="cpu", vram=1.0)
        + _accuracy("int8_wo", 0.8, 0.0, 0.9)
    )
    recs = recommend(summarize(records, *_outcomes(["bf16", "int8_wo"])), "bf16")
    speed_based = [
        r
        for r in recs
        if r.title in ("Best accuracy-speed balance", "Fastest + smallest", "Safe default, no calibration")
    ]
    assert len(speed_based) == 3
    for rec in speed_based:
        assert "measured on the CPU: not indicative of GPU deployment" in rec.reason, rec


def test_a_speed_difference_inside_the_spread_is_not_called_a_difference():
    records = (
        _timed("bf16", 2.0, (1.0, 3.0))
        + _accuracy("bf16")
        + _timed("int8_wo", 1.5, (1.2, 1.8), vram=1.0)
        + _accuracy("int8_wo", 0.8, 0.0, 0.9)
    )
    recs = {r.title: r for r in recommend(summarize(records, *_outcomes(["bf16", "int8_wo"])), "bf16")}
    assert recs["Fastest"].recipe is None and "inside the measured spread of bf16" in recs["Fastest"].reason
    assert recs["Smallest"].recipe == "int8_wo"
    balance = recs["Best accuracy-speed balance"]
    assert balance.recipe == "int8_wo" and "no measurable speed-up" in balance.reason


def test_fastest_and_smallest_headings_name_the_recipe_they_describe():
    records = (
        _timed("bf16", 2.0, (1.9, 2.1), vram=4.0)
        + _accuracy("bf16")
        + _timed("int8_wo", 1.0, (0.9, 1.1), vram=2.0)
        + _accuracy("int8_wo", 0.8, 0.0, 0.9)
        + _timed("int4_wo", 1.5, (1.4, 1.6), vram=1.0)
        + _accuracy("int4_wo", 0.8, 0.0, 0.9)
    )
    recs = {r.title: r for r in recommend(summarize(records, *_outcomes(["bf16", "int8_wo", "int4_wo"])), "bf16")}
    assert "Fastest + smallest" not in recs
    assert recs["Fastest"].recipe == "int8_wo" and "int4_wo" not in recs["Fastest"].reason
    assert recs["Smallest"].recipe == "int4_wo" and "static VRAM (1 GB)" in recs["Smallest"].reason


def test_fidelity_breaks_an_accuracy_tie_on_the_pareto_frontier():
    # equal recovery: a is measurably faster, b measurably closer to the baseline
    tied = {
        "a": Point(2.0, 0.95, (1.9, 2.1), (0.010, 0.008, 0.012)),
        "b": Point(1.5, 0.95, (1.4, 1.6), (0.001, 0.0008, 0.0012)),
    }
    assert pareto_front(tied) == ["a", "b"]
    # without fidelity, b is dominated (slower, same accuracy)
    assert pareto_front({n: Point(p.speedup, p.recovery, p.speedup_range) for n, p in tied.items()}) == ["a"]
    # KL intervals that overlap do not break the tie
    overlapping = dict(tied, b=Point(1.5, 0.95, (1.4, 1.6), (0.009, 0.007, 0.011)))
    assert pareto_front(overlapping) == ["a"]
    # speeds inside each other's spread are equal: a slower median never knocks out a faster point, but the
    # faster one falls to a point with a higher median speed inside its spread that is closer to the baseline
    same_speed = {
        "a": Point(2.0, 0.95, (1.5, 2.5), (0.010, 0.008, 0.012)),
        "b": Point(1.8, 0.95, (1.4, 2.2), (0.001, 0.0008, 0.0012)),
    }
    assert pareto_front(same_speed) == ["a", "b"]
    assert pareto_front(dict(same_speed, c=Point(2.1, 0.95, (1.6, 2.6), (0.001, 0.0008, 0.0012)))) == ["c", "b"]


def test_a_noisy_wide_range_does_not_knock_out_a_measurably_faster_recipe():
    """The default CPU run: int4_wo's decode range spans bf16's and int8_wo's; int8_wo stays on the frontier
    and is the balance pick over int4_awq (tied in speed and recovery, farther from bf16)."""
    points = {
        "bf16": Point(1.00, 1.000, (0.85, 1.35), (0.0, 0.0, 0.0)),
        "int8_wo": Point(19.0, 0.994, (15.0, 24.2), (1.1e-5, 7.6e-6, 1.5e-5)),
        "int4_wo": Point(1.32, 0.996, (0.86, 20.3), (3.1e-4, 1.7e-4, 5.2e-4)),
        "smoothquant": Point(1.00, 0.994, (0.65, 3.80), (4.3e-5, 3.1e-5, 5.8e-5)),
        "int4_awq": Point(29.9, 0.994, (18.8, 43.2), (2.3e-4, 1.6e-4, 3.3e-4)),
    }
    assert pareto_front(points) == ["int4_awq", "int8_wo", "int4_wo", "bf16"]


def test_safe_default_and_not_significant_use_fidelity_where_accuracy_ties():
    records = (
        _timed("bf16", 2.0, (1.9, 2.1))
        + _accuracy("bf16")
        + _timed("kv_a", 1.0, (0.8, 1.2))
        + _accuracy("kv_a", 0.8, 0.0, 0.9)
        + _kl("kv_a", 0.01, 0.008, 0.012)
        + _timed("kv_b", 1.1, (0.9, 1.3))
        + _accuracy("kv_b", 0.8, 0.0, 0.9)
        + _kl("kv_b", 0.001, 0.0008, 0.0012)
    )
    recs = {r.title: r for r in recommend(summarize(records, *_outcomes(["bf16", "kv_a", "kv_b"])), "bf16")}
    safe = recs["Safe default, no calibration"]
    assert safe.recipe == "kv_b" and "fidelity breaks the tie" in safe.reason  # kv_a is not measurably faster
    tie = recs["Not significant"].reason
    assert "fidelity tells them apart" in tie and "(kv_b)" in tie and "(kv_a)" in tie


def test_balance_pick_among_speed_ties_prefers_accuracy_then_fidelity():
    records = (
        _timed("bf16", 219.0, (162.0, 258.0))
        + _accuracy("bf16", 1.0)
        + _timed("int8_wo", 11.5, (9.0, 14.6))
        + _accuracy("int8_wo", 0.994, -0.006, 0.5)
        + _kl("int8_wo", 1.1e-5, 7.6e-6, 1.5e-5)
        + _timed("int4_wo", 166.0, (10.8, 253.0))
        + _accuracy("int4_wo", 0.996, -0.004, 0.6)
        + _kl("int4_wo", 3.1e-4, 1.7e-4, 5.2e-4)
        + _timed("int4_awq", 7.3, (5.1, 11.7))
        + _accuracy("int4_awq", 0.994, -0.006, 0.5)
        + _kl("int4_awq", 2.3e-4, 1.6e-4, 3.3e-4)
    )
    summaries = summarize(records, *_outcomes(["bf16", "int8_wo", "int4_wo", "int4_awq"]))
    balance = next(r for r in recommend(summaries, "bf16") if r.title == "Best accuracy-speed balance")
    # int4_wo's wide range ties it with int4_awq, but it is not measurably faster than bf16: not a candidate
    assert balance.recipe == "int8_wo"
    assert "as fast as int4_awq within the measured spread" in balance.reason
    assert "fidelity breaks the tie" in balance.reason
