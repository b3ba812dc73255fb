"""Confidence intervals and paired tests for task records, on top of `vlmq.metrics.stats`.

The statistics themselves (percentile bootstrap, paired bootstrap, McNemar) live in
`vlmq.metrics.stats`; this module only turns task rows into what those functions take and their
results into the contract's records. Conventions:

- Intervals are 95% percentile bootstrap intervals (1000 resamples, seeded with `TaskOptions.seed`).
- A metric that is undefined (e.g. official POPE precision with no "yes" answer) gets
  ``value``/``ci_low``/``ci_high`` = None and an ``undefined`` reason instead of a made-up number.
  POPE resamples count a zero denominator as 0 (lmms-eval's convention): with a few hundred
  samples that never happens, and on a handful it would otherwise void every interval.
- MME is resampled by image. Totals resample images of all subtasks jointly, so with very few
  images per subtask a resample can miss a subtask, which widens the interval downwards; subtask
  scores resample only that subtask's images.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from vlmq.tasks.base import TaskOptions, compare_record, metric_record, pair_rows

N_BOOT = 1000


def bootstrap_mean(task: str, metric: str, values: Sequence[float], opts: TaskOptions, n_failed: int) -> dict:
    """The record of the mean per-sample score (VQA accuracy) with its bootstrap interval."""
    from vlmq.metrics.stats import bootstrap_ci

    if not values:
        return _undefined(task, metric, 0, opts, n_failed, "no scored sample")
    ci = bootstrap_ci(values, n_boot=N_BOOT, seed=opts.seed)
    return metric_record(task, metric, sum(values) / len(values), ci, len(values), opts, n_failed)


def bootstrap_metrics(
    task: str,
    units: list,
    statistic: Callable[[list], dict],
    metrics: Sequence[str],
    opts: TaskOptions,
    n_failed: int,
    n: int | None = None,
    resample_statistic: Callable[[list], dict] | None = None,
) -> list[dict]:
    """One record per metric of ``statistic(units)`` (a dict), each with its bootstrap interval.

    ``resample_statistic`` (default: ``statistic``) computes the resamples; POPE passes the
    zero-denominator-gives-0 variant so that a rare degenerate resample does not void the interval.
    All metrics share one set of resamples: it runs once per resample and every metric reads its
    value from that run.
    """
    n = len(units) if n is None else n
    if not units:
        return [_undefined(task, metric, n, opts, n_failed, "no scored sample") for metric in metrics]
    full = _safe(statistic, units)
    replay = _Replay(resample_statistic or statistic)
    records = []
    for metric in metrics:
        if not isinstance(full, dict) or full.get(metric) is None:
            reason = full if isinstance(full, str) else f"{metric} not measured on these samples"
            records.append(_undefined(task, metric, n, opts, n_failed, reason))
            continue
        ci = replay.interval(units, metric, opts.seed)
        records.append(metric_record(task, metric, full[metric], ci, n, opts, n_failed))
    return records


def mcnemar_accuracy(task: str, base_rows: list[dict], rows: list[dict], opts: TaskOptions) -> dict:
    """Change in the share of right answers: McNemar p-value, paired-bootstrap interval of the delta."""
    from vlmq.metrics.stats import mcnemar, paired_bootstrap

    pairs = pair_rows(base_rows, rows, task)
    base_scores = [base["score"] for base, _ in pairs]
    scores = [row["score"] for _, row in pairs]
    test = mcnemar([score == 1.0 for score in base_scores], [score == 1.0 for score in scores])
    interval = paired_bootstrap(base_scores, scores, n_boot=N_BOOT, seed=opts.seed)
    return compare_record(
        task,
        "accuracy",
        interval["delta"],
        (interval["ci_low"], interval["ci_high"]),
        test["p_value"],
        test["test"],
        len(pairs),
        opts,
    )


def paired_mean_difference(task: str, metric: str, base_rows: list[dict], rows: list[dict], opts: TaskOptions) -> dict:
    """Paired bootstrap of the change in mean per-sample score (VQA soft accuracy)."""
    from vlmq.metrics.stats import paired_bootstrap

    pairs = pair_rows(base_rows, rows, task)
    result = paired_bootstrap(
        [base["score"] for base, _ in pairs], [row["score"] for _, row in pairs], n_boot=N_BOOT, seed=opts.seed
    )
    return compare_record(
        task,
        metric,
        result["delta"],
        (result["ci_low"], result["ci_high"]),
        result["p_value"],
        result["test"],
        len(pairs),
        opts,
    )


def paired_metric_difference(
    task: str,
    metric: str,
    base_units: list[dict],
    units: list[dict],
    statistic: Callable[[list], dict],
    opts: TaskOptions,
    n_per_unit: int = 1,
    resample_statistic: Callable[[list], dict] | None = None,
) -> dict:
    """Paired bootstrap of the change in ``statistic(units)[metric]`` (POPE F1, MME scores).

    Units pair by ``sample_id``; ``n_per_unit`` converts units to samples in ``n`` (MME: 2 per image).
    The metric must be defined under ``statistic`` for both recipes; resamples use
    ``resample_statistic`` (default ``statistic``), as in `bootstrap_metrics`.
    """
    from vlmq.metrics.stats import paired_bootstrap_rows

    pairs = pair_rows(base_units, units, task)
    n = len(pairs) * n_per_unit
    base, candidate = [base for base, _ in pairs], [unit for _, unit in pairs]
    try:
        _metric_of(statistic, metric)(base), _metric_of(statistic, metric)(candidate)
        result = paired_bootstrap_rows(
            base, candidate, _metric_of(resample_statistic or statistic, metric), n_boot=N_BOOT, seed=opts.seed
        )
    except ZeroDivisionError as undefined:  # UndefinedMetric is a ZeroDivisionError
        record = compare_record(task, metric, None, (None, None), None, "paired_bootstrap", n, opts)
        return dict(record, undefined=str(undefined))
    return compare_record(
        task, metric, result["delta"], (result["ci_low"], result["ci_high"]), result["p_value"], result["test"], n, opts
    )


def _metric_of(statistic: Callable[[list], dict], metric: str) -> Callable[[list], float]:
    def value(units: list) -> float:
        result = statistic(units)[metric]
        if result is None:
            raise ZeroDivisionError(f"{metric} is not measured on a resample")
        return result

    return value


def _safe(statistic: Callable[[list], dict], units: list) -> dict | str:
    """The statistic, or the reason it is undefined (UndefinedMetric is a ZeroDivisionError)."""
    try:
        return statistic(units)
    except ZeroDivisionError as undefined:
        return str(undefined)


class _Replay:
    """Runs the statistic over the bootstrap resamples once and replays it for every metric.

    `bootstrap_ci_rows` draws the same resamples for the same (rows, n_boot, seed), so the k-th call
    of every pass sees the same resample; the first pass records each result, later passes read it.
    One instance serves one set of units.
    """

    def __init__(self, statistic: Callable[[list], dict]):
        self.statistic, self.results = statistic, []

    def interval(self, units: list, metric: str, seed: int) -> tuple:
        from vlmq.metrics.stats import bootstrap_ci_rows

        fresh, calls = not self.results, 0

        def value(resample: list) -> float:
            nonlocal calls
            if fresh:
                self.results.append(_safe(self.statistic, resample))
            elif calls >= len(self.results):
                raise RuntimeError("bootstrap drew more resamples than recorded; the replay assumes a fixed count")
            result = self.results[calls]
            calls += 1
            number = result.get(metric) if isinstance(result, dict) else None
            return math.nan if number is None else number

        low, high = bootstrap_ci_rows(units, value, n_boot=N_BOOT, seed=seed)
        if calls != len(self.results):
            raise RuntimeError(
                f"bootstrap called the statistic {calls} times, recorded {len(self.results)}; "
                "the replay assumes one call per resample"
            )
        return (None, None) if math.isnan(low) or math.isnan(high) else (low, high)


def _undefined(task: str, metric: str, n: int, opts: TaskOptions, n_failed: int, reason: str) -> dict:
    return dict(metric_record(task, metric, None, (None, None), n, opts, n_failed), undefined=reason)
