"""Bootstrap intervals, McNemar and the paired bootstrap."""

import time

import numpy as np
import pytest

from vlmq.errors import VlmqError
from vlmq.metrics.mme import mme_scores_from_pairs
from vlmq.metrics.pope import pope_metrics_from_parsed
from vlmq.metrics.stats import (
    bootstrap_ci,
    bootstrap_ci_rows,
    bootstrap_intervals_rows,
    mcnemar,
    paired_bootstrap,
    paired_bootstrap_rows,
)


def bernoulli(n, p, seed):
    return (np.random.default_rng(seed).random(n) < p).astype(float)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.85])
def test_ci_covers_the_mean_and_narrows_with_n(p):
    small, large = bernoulli(200, p, 1), bernoulli(20_000, p, 2)
    low_s, high_s = bootstrap_ci(small)
    low_l, high_l = bootstrap_ci(large)
    assert low_s <= small.mean() <= high_s and low_l <= large.mean() <= high_l
    assert (high_l - low_l) < (high_s - low_s) / 5  # width ~ 1/sqrt(n): 10x narrower expected


def test_ci_width_matches_the_normal_approximation():
    values = bernoulli(5000, 0.3, 3)
    low, high = bootstrap_ci(values, n_boot=2000)
    normal_half_width = 1.96 * values.std() / np.sqrt(len(values))
    assert (high - low) / 2 == pytest.approx(normal_half_width, rel=0.1)


def test_ci_is_deterministic_by_seed():
    values = bernoulli(500, 0.6, 4)
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    assert bootstrap_ci(values, seed=7) != bootstrap_ci(values, seed=8)


def test_lower_alpha_gives_a_wider_interval():
    values = bernoulli(500, 0.6, 5)
    low_95, high_95 = bootstrap_ci(values, alpha=0.05)
    low_99, high_99 = bootstrap_ci(values, alpha=0.01)
    assert low_99 < low_95 and high_99 > high_95


def test_other_numpy_reducers_work_as_statistic():
    values = np.arange(101, dtype=float)
    low, high = bootstrap_ci(values, statistic=np.median)
    assert low <= 50 <= high


def test_rows_variant_bootstraps_pope_f1():
    rows = [("yes", "yes")] * 40 + [("no", "no")] * 40 + [("yes", "no")] * 10 + [("no", "yes")] * 10

    def f1(sample):
        return pope_metrics_from_parsed([p for p, _ in sample], [g for _, g in sample])["f1"]

    low, high = bootstrap_ci_rows(rows, f1, n_boot=300)
    assert f1(rows) == pytest.approx(0.8)
    assert low < 0.8 < high
    assert bootstrap_ci_rows(rows, f1, n_boot=300) == (low, high)


def test_intervals_of_several_metrics_match_one_at_a_time():
    rows = [("yes", "yes")] * 30 + [("no", "no")] * 30 + [("yes", "no")] * 8 + [("no", "yes")] * 12

    def pope(sample):
        return pope_metrics_from_parsed([p for p, _ in sample], [g for _, g in sample])

    intervals = bootstrap_intervals_rows(rows, pope, n_boot=200, seed=3)
    assert list(intervals) == ["accuracy", "precision", "recall", "f1", "yes_ratio"]
    for name, interval in intervals.items():
        assert interval == bootstrap_ci_rows(rows, lambda sample, name=name: pope(sample)[name], n_boot=200, seed=3)


def test_a_metric_missing_on_some_resample_gets_a_nan_interval():
    rows = [("existence", (True, True))] * 5 + [("code_reasoning", (True, False))]

    def mme(sample):
        pairs = {}
        for category, pair in sample:
            pairs.setdefault(category, []).append(pair)
        return mme_scores_from_pairs(pairs)  # cognition_total is None when no code_reasoning image is drawn

    intervals = bootstrap_intervals_rows(rows, lambda sample: {"c": mme(sample)["cognition_total"]}, n_boot=200)
    assert all(np.isnan(bound) for bound in intervals["c"])
    assert all(np.isnan(bound) for bound in bootstrap_ci_rows(rows, lambda s: np.nan if len(s) else 0.0))


def test_paired_rows_with_an_undefined_resample_report_nan_not_a_p_value():
    result = paired_bootstrap_rows([1, 2, 3], [1, 2, 4], lambda s: np.nan if 1 not in s else float(sum(s)), n_boot=100)
    assert np.isnan(result["p_value"]) and np.isnan(result["ci_low"]) and result["delta"] == 1.0


def test_1000_resamples_of_3000_items_are_fast():
    a, b = bernoulli(3000, 0.8, 6), bernoulli(3000, 0.78, 7)
    start = time.perf_counter()
    bootstrap_ci(a)
    paired_bootstrap(a, b)
    assert time.perf_counter() - start < 2.0  # ~0.05 s on a 2-core CPU; generous for a shared machine


@pytest.mark.parametrize(
    ("b", "c"), [(0, 0), (0, 1), (1, 0), (3, 2), (5, 0), (0, 9), (6, 6), (2, 10), (12, 12), (0, 24)]
)
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    scipy_stats = pytest.importorskip("scipy.stats")
    correct_a = [True] * b + [False] * c + [True] * 7 + [False] * 4  # then 7 both right, 4 both wrong
    correct_b = [False] * b + [True] * c + [True] * 7 + [False] * 4
    result = mcnemar(correct_a, correct_b)
    assert (result["b"], result["c"], result["test"]) == (b, c, "mcnemar_exact")
    expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
    assert result["p_value"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(25, 0), (13, 12), (40, 20), (100, 130)])
def test_mcnemar_chi2_with_continuity_correction(b, c):
    scipy_stats = pytest.importorskip("scipy.stats")
    result = mcnemar([True] * b + [False] * c, [False] * b + [True] * c)
    statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    assert result["test"] == "mcnemar_chi2"
    assert result["p_value"] == pytest.approx(scipy_stats.chi2.sf(statistic, 1), rel=1e-9)


def test_paired_bootstrap_delta_is_the_mean_difference():
    a, b = bernoulli(2000, 0.7, 8), bernoulli(2000, 0.6, 9)
    result = paired_bootstrap(a, b)
    assert result["delta"] == pytest.approx(b.mean() - a.mean())
    assert result["ci_low"] < result["delta"] < result["ci_high"] < 0
    assert result["p_value"] < 0.01 and result["test"] == "paired_bootstrap"


def test_paired_bootstrap_of_identical_recipes_has_p_one_and_zero_interval():
    a = bernoulli(300, 0.5, 10)
    result = paired_bootstrap(a, a.copy())
    assert (result["delta"], result["ci_low"], result["ci_high"], result["p_value"]) == (0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_p_value_floor_reflects_the_number_of_resamples():
    result = paired_bootstrap(np.zeros(100), np.ones(100), n_boot=99)
    assert result["p_value"] == pytest.approx(2 / 100)


def test_paired_rows_variant_on_mme_images():
    base = [(True, True)] * 30 + [(True, False)] * 10
    worse = [(True, True)] * 20 + [(False, False)] * 20

    def perception(images):
        return mme_scores_from_pairs({"existence": list(images)})["perception_total"]

    result = paired_bootstrap_rows(base, worse, perception, n_boot=500)
    assert result["delta"] == pytest.approx(perception(worse) - perception(base))
    assert result["ci_high"] < 0 and result["p_value"] < 0.05


def test_rows_variant_takes_numpy_arrays():
    rows = np.column_stack([bernoulli(400, 0.5, 11), bernoulli(400, 0.5, 12)])
    low, high = bootstrap_ci_rows(rows, lambda sample: float(np.mean(sample[:, 0] == sample[:, 1])))
    assert low < float(np.mean(rows[:, 0] == rows[:, 1])) < high


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_ci([]), "non-empty"),
        (lambda: bootstrap_ci([1.0, float("nan")]), "NaN"),
        (lambda: bootstrap_ci(["a", "b"]), "must be numbers"),
        (lambda: bootstrap_ci([1.0], n_boot=0), "n_boot"),
        (lambda: bootstrap_ci([1.0], alpha=1.0), "alpha"),
        (lambda: bootstrap_ci_rows([], len), "non-empty"),
        (lambda: paired_bootstrap([1.0, 0.0], [1.0]), "2 samples for A and 1 for B"),
        (lambda: paired_bootstrap_rows([1], [1, 2], len), "1 samples for A and 2 for B"),
        (lambda: mcnemar([True, False], [True]), "2 samples for A and 1 for B"),
        (lambda: mcnemar([0.3, 1.0], [1.0, 1.0]), "right/wrong"),
    ],
)
def test_bad_input_raises_vlmq_error(call, message):
    with pytest.raises(VlmqError, match=message):
        call()
