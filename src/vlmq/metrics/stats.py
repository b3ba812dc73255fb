"""Confidence intervals and paired tests for accuracy metrics. Pure and numpy-vectorised.

- :func:`bootstrap_ci` / :func:`bootstrap_ci_rows`: percentile bootstrap interval of one metric;
  :func:`bootstrap_intervals_rows`: of several metrics computed together on the same resamples.
- :func:`mcnemar`: paired test on per-sample right/wrong outcomes of two recipes (exact binomial
  when there are fewer than 25 discordant pairs, else chi-square with continuity correction).
- :func:`paired_bootstrap` / :func:`paired_bootstrap_rows`: interval and two-sided p-value of the
  difference ``statistic(b) - statistic(a)``, resampling the same samples for both recipes.

The ``*_rows`` variants take a statistic over a resampled list (or numpy array) of rows, for metrics
that are not means: POPE F1 over samples, MME score over images. Every function is deterministic
for a given ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from vlmq.errors import VlmqError

# Resample in chunks of at most this many indices, so that full VQAv2 val (214k questions) x 1000
# resamples never materialises a 1.7 GB index matrix.
_MAX_INDICES_PER_CHUNK = 4_000_000
# Below this many discordant pairs McNemar uses the exact binomial test.
MCNEMAR_EXACT_BELOW = 25


def bootstrap_ci(
    values, *, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05, statistic: Callable = np.mean
) -> tuple[float, float]:
    """Percentile bootstrap ``(low, high)`` interval at level ``1 - alpha`` of ``statistic(values)``.

    ``statistic`` is a numpy-style reducer called as ``statistic(resamples, axis=-1)`` on a
    ``[n_resamples, n]`` array (``np.mean``, ``np.median``...); for anything else use
    :func:`bootstrap_ci_rows`.
    """
    array = _as_1d_floats(values, "values")
    _check_settings(n_boot, alpha)
    resampled = np.concatenate([statistic(array[idx], axis=-1) for idx in _index_chunks(len(array), n_boot, seed)])
    return _percentile_interval(resampled, alpha)


def bootstrap_ci_rows(
    rows: Sequence, statistic: Callable[[Sequence], float], *, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(rows)`` for any statistic over rows.

    ``statistic`` gets a resampled list of the rows (or a resampled array when ``rows`` is a numpy
    array: the fast path) and returns a float, e.g. ``lambda r: pope_metrics_from_parsed(...)["f1"]``.
    A NaN on any resample makes the interval ``(nan, nan)``; an exception in ``statistic`` propagates.
    The resamples depend only on ``(len(rows), n_boot, seed)``.
    """
    _check_rows(rows, "rows")
    _check_settings(n_boot, alpha)
    resampled = [statistic(sample) for sample in _resampled_rows(rows, n_boot, seed)]
    return _percentile_interval(np.asarray(resampled, dtype=np.float64), alpha)


def bootstrap_intervals_rows(
    rows: Sequence,
    statistic: Callable[[Sequence], Mapping[str, float | None]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, tuple[float, float]]:
    """:func:`bootstrap_ci_rows` for a statistic that returns several metrics at once (all five POPE
    metrics, every MME subtask score): one pass over the resamples, one interval per metric name.

    A metric that is None, NaN or missing on any resample gets ``(nan, nan)``; a statistic that
    raises (e.g. :class:`~vlmq.metrics.UndefinedMetric`) propagates.
    """
    _check_rows(rows, "rows")
    _check_settings(n_boot, alpha)
    results = [statistic(sample) for sample in _resampled_rows(rows, n_boot, seed)]
    names = dict.fromkeys(name for result in results for name in result)  # first-seen order
    return {
        name: _percentile_interval(np.asarray([_number(result.get(name)) for result in results]), alpha)
        for name in names
    }


def paired_bootstrap(
    values_a, values_b, *, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05, statistic: Callable = np.mean
) -> dict:
    """Paired bootstrap of ``delta = statistic(values_b) - statistic(values_a)``.

    ``values_a[i]`` and ``values_b[i]`` are the same sample under recipes A (the baseline) and B.
    Returns ``delta, ci_low, ci_high, p_value, test="paired_bootstrap"``: the percentile interval of
    the resampled deltas and a two-sided p-value, twice the share of resampled deltas on the far side
    of 0 (with a +1 correction, so never below ``2 / (n_boot + 1)``; capped at 1).
    ``statistic`` is a numpy-style reducer, as in :func:`bootstrap_ci`.
    """
    a = _as_1d_floats(values_a, "values_a")
    b = _as_1d_floats(values_b, "values_b")
    _check_paired(len(a), len(b))
    _check_settings(n_boot, alpha)
    deltas = np.concatenate(
        [statistic(b[idx], axis=-1) - statistic(a[idx], axis=-1) for idx in _index_chunks(len(a), n_boot, seed)]
    )
    return _paired_result(float(statistic(b) - statistic(a)), deltas, alpha)


def paired_bootstrap_rows(
    rows_a: Sequence,
    rows_b: Sequence,
    statistic: Callable[[Sequence], float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """:func:`paired_bootstrap` for any statistic over rows (F1 over paired POPE samples, MME score
    over paired images): ``rows_a[i]`` and ``rows_b[i]`` must be the same sample or image."""
    _check_rows(rows_a, "rows_a")
    _check_rows(rows_b, "rows_b")
    _check_paired(len(rows_a), len(rows_b))
    _check_settings(n_boot, alpha)
    deltas = [
        statistic(_take(rows_b, idx)) - statistic(_take(rows_a, idx))
        for idx in _resampled_indices(len(rows_a), n_boot, seed)
    ]
    return _paired_result(float(statistic(rows_b) - statistic(rows_a)), np.asarray(deltas, dtype=np.float64), alpha)


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict:
    """McNemar's test on paired right/wrong outcomes of recipes A and B.

    ``b`` counts samples A got right and B wrong, ``c`` the reverse. With ``b + c < 25`` the p-value
    is the exact two-sided binomial test of ``b`` in ``b + c`` trials at 0.5 (what
    ``scipy.stats.binomtest(b, b + c).pvalue`` gives); otherwise the chi-square test with
    continuity correction, ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom, the correction
    clamped so that it never pushes the statistic below 0.
    """
    a = _as_1d_bools(correct_a, "correct_a")
    b_arr = _as_1d_bools(correct_b, "correct_b")
    _check_paired(len(a), len(b_arr))
    b = int(np.sum(a & ~b_arr))
    c = int(np.sum(~a & b_arr))
    if b + c < MCNEMAR_EXACT_BELOW:
        return {"p_value": _exact_binomial_two_sided(b, b + c), "b": b, "c": c, "test": "mcnemar_exact"}
    chi2 = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    # Survival function of chi-square with 1 degree of freedom.
    return {"p_value": math.erfc(math.sqrt(chi2 / 2)), "b": b, "c": c, "test": "mcnemar_chi2"}


def _exact_binomial_two_sided(k: int, n: int) -> float:
    if n == 0:
        return 1.0  # no discordant pair: no evidence of any difference
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1))
    return min(1.0, 2 * tail / 2**n)


def _paired_result(delta: float, deltas: np.ndarray, alpha: float) -> dict:
    low, high = _percentile_interval(deltas, alpha)
    return {"delta": delta, "ci_low": low, "ci_high": high, "p_value": _two_sided_p(deltas), "test": "paired_bootstrap"}


def _two_sided_p(deltas: np.ndarray) -> float:
    """Twice the share of bootstrap deltas on the far side of 0, with the usual +1 correction so a
    finite number of resamples never claims p = 0 (the floor is 2 / (n_boot + 1)); capped at 1.
    NaN when a resample's statistic was NaN (the metric is undefined there)."""
    if np.isnan(deltas).any():
        return math.nan
    at_or_below = int(np.sum(deltas <= 0))
    at_or_above = int(np.sum(deltas >= 0))
    return min(1.0, 2 * (1 + min(at_or_below, at_or_above)) / (len(deltas) + 1))


def _percentile_interval(resampled: np.ndarray, alpha: float) -> tuple[float, float]:
    low, high = np.quantile(resampled, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _index_chunks(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """``n_boot`` rows of ``n`` indices drawn with replacement, yielded in ``[k, n]`` chunks.

    One generator draws every chunk in turn, so the indices depend only on ``(n, n_boot, seed)``.
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _MAX_INDICES_PER_CHUNK // n)
    for start in range(0, n_boot, per_chunk):
        yield rng.integers(0, n, size=(min(per_chunk, n_boot - start), n))


def _resampled_indices(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    for chunk in _index_chunks(n, n_boot, seed):
        yield from chunk


def _resampled_rows(rows, n_boot: int, seed: int) -> Iterator:
    for idx in _resampled_indices(len(rows), n_boot, seed):
        yield _take(rows, idx)


def _number(value) -> float:
    return math.nan if value is None else float(value)


def _take(rows, idx: np.ndarray):
    return rows[idx] if isinstance(rows, np.ndarray) else [rows[i] for i in idx]


def _as_1d_floats(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise VlmqError(
            f"{name} must be numbers (per-sample scores); got {err}; "
            "use the *_rows variant for other per-sample records"
        ) from None
    if array.ndim != 1 or array.size == 0:
        raise VlmqError(f"{name} must be a non-empty 1-D list of per-sample scores, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise VlmqError(f"{name} holds NaN or infinite scores; drop or fix those samples first")
    return array


def _as_1d_bools(values, name: str) -> np.ndarray:
    array = _as_1d_floats(values, name)
    if not np.all((array == 0) | (array == 1)):
        raise VlmqError(
            f"{name} must be right/wrong (True/False or 1/0) per sample; "
            "for soft scores such as VQA accuracy use paired_bootstrap"
        )
    return array.astype(bool)


def _check_rows(rows, name: str) -> None:
    if isinstance(rows, (str, bytes)) or not hasattr(rows, "__len__") or len(rows) == 0:
        raise VlmqError(f"{name} must be a non-empty list (or array) of per-sample rows")


def _check_paired(n_a: int, n_b: int) -> None:
    if n_a != n_b:
        raise VlmqError(
            f"paired test got {n_a} samples for A and {n_b} for B; "
            "pass the same samples, in the same order, for both recipes"
        )


def _check_settings(n_boot: int, alpha: float) -> None:
    if not isinstance(n_boot, int) or n_boot < 1:
        raise VlmqError(f"n_boot must be a positive integer, got {n_boot!r}; 1000 is usual")
    if not 0 < alpha < 1:
        raise VlmqError(f"alpha must be between 0 and 1, got {alpha!r}; 0.05 gives a 95% interval")
