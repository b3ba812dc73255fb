"""Pure functions from tidy records to what the report says: per-recipe summaries, the Pareto frontier,
and recommendations with their reasons. No I/O here, so every rule is unit-tested on hand-made records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SIGNIFICANCE = 0.05
# The headline metric of each accuracy task family (the original study's table columns).
HEADLINE = {"vqa": ("accuracy", 100.0, "%"), "pope": ("f1", 100.0, "%"), "mme": ("perception_total", 1.0, "pts")}


def task_family(task: str) -> str | None:
    base = task.split("/")[0]
    for family in HEADLINE:
        if family in base:
            return family
    return None


def headline_tasks(records: list[dict]) -> list[str]:
    """Tasks that have a headline metric, in first-seen order (pooled tasks only, no split variants)."""
    seen: list[str] = []
    for rec in records:
        task = rec["task"]
        if "/" not in task and task_family(task) and rec.get("metric") == HEADLINE[task_family(task)][0] and task not in seen:
            seen.append(task)
    return seen


@dataclass
class Accuracy:
    value: float
    ci: tuple[float | None, float | None]
    delta: float | None = None
    p_value: float | None = None

    @property
    def significantly_worse(self) -> bool:
        return self.delta is not None and self.p_value is not None and self.p_value < SIGNIFICANCE and self.delta < 0

    @property
    def significantly_better(self) -> bool:
        return self.delta is not None and self.p_value is not None and self.p_value < SIGNIFICANCE and self.delta > 0


@dataclass
class RecipeSummary:
    name: str
    kernel: str = "unknown"
    status: str = "ok"
    needs_calibration: bool = False
    accuracy: dict[str, Accuracy] = field(default_factory=dict)
    speed: dict[str, float] = field(default_factory=dict)   # metric -> value at the headline point

    @property
    def decode_ms(self) -> float | None:
        return self.speed.get("decode_ms_per_token")

    @property
    def has_real_speed(self) -> bool:
        return self.kernel == "real" and self.decode_ms is not None

    @property
    def worst_loss(self) -> tuple[str, Accuracy] | None:
        losses = [(t, a) for t, a in self.accuracy.items() if a.significantly_worse]
        return min(losses, key=lambda item: item[1].delta / max(abs(item[1].value), 1e-9)) if losses else None

    def recovery(self, baseline: "RecipeSummary") -> float | None:
        """Mean over tasks of value / baseline value: one accuracy axis for the Pareto plot."""
        ratios = [a.value / baseline.accuracy[t].value for t, a in self.accuracy.items()
                  if t in baseline.accuracy and baseline.accuracy[t].value]
        return sum(ratios) / len(ratios) if ratios else None


def summarize(records: list[dict], outcomes: dict[str, dict], calibrated: set[str] = frozenset()) -> list[RecipeSummary]:
    """One RecipeSummary per recipe, in outcome order, from the run's tidy records."""
    summaries = {name: RecipeSummary(name, kernel=o.get("kernel") or "unknown", status=o["status"],
                                     needs_calibration=name in calibrated) for name, o in outcomes.items()}
    for task in headline_tasks(records):
        metric = HEADLINE[task_family(task)][0]
        for rec in records:
            if rec["task"] == task and rec["metric"] == metric and rec.get("value") is not None:
                summary = summaries.setdefault(rec["recipe"], RecipeSummary(rec["recipe"]))
                summary.accuracy[task] = Accuracy(rec["value"], (rec.get("ci_low"), rec.get("ci_high")),
                                                  rec.get("delta"), rec.get("p_value"))
    for rec in records:
        if rec["task"] == "speed" and rec.get("value") is not None and rec["recipe"] in summaries:
            summaries[rec["recipe"]].speed[rec["metric"]] = rec["value"]
    return list(summaries.values())


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names of the points no other point dominates, maximizing both coordinates (speed, accuracy).

    A point is dominated when another is at least as good on both axes and strictly better on one;
    exact ties are all kept. Sorted by the first coordinate, fastest first.
    """
    front = []
    for name, (x, y) in points.items():
        dominated = any(ox >= x and oy >= y and (ox > x or oy > y) for other, (ox, oy) in points.items() if other != name)
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: (-points[n][0], -points[n][1], n))


def speed_accuracy_points(summaries: list[RecipeSummary], baseline: str) -> dict[str, tuple[float, float]]:
    """(decode speed-up over the baseline, accuracy recovery) for recipes with real-kernel speed figures."""
    base = next((s for s in summaries if s.name == baseline), None)
    if base is None or not base.has_real_speed:
        return {}
    points = {}
    for s in summaries:
        recovery = s.recovery(base)
        if s.has_real_speed and recovery is not None:
            points[s.name] = (base.decode_ms / s.decode_ms, recovery)
    return points


@dataclass
class Recommendation:
    title: str
    recipe: str | None
    reason: str


def _not_worse(s: RecipeSummary) -> bool:
    return s.status == "ok" and bool(s.accuracy) and not any(a.significantly_worse for a in s.accuracy.values())


def _fmt_ms(ms: float) -> str:
    return f"{ms:.2f} ms/token"


def recommend(summaries: list[RecipeSummary], baseline: str) -> list[Recommendation]:
    """Deployment recommendations computed from the results, each with its reason."""
    ok = [s for s in summaries if s.status == "ok"]
    recs: list[Recommendation] = []
    points = speed_accuracy_points(summaries, baseline)
    front = pareto_front(points)
    safe_front = [n for n in front if _not_worse(next(s for s in ok if s.name == n))]
    if not points:
        recs.append(Recommendation("Best accuracy-speed balance", None,
                                   "no real-kernel speed figures for the baseline and the quantized recipes on this "
                                   "device, so no speed ranking is possible; accuracy alone is below"))
    elif safe_front:
        best = safe_front[0]
        recs.append(Recommendation("Best accuracy-speed balance", best,
                                   f"on the Pareto frontier, {points[best][0]:.2f}x the baseline's decode speed, and "
                                   f"no task significantly below {baseline} (p >= {SIGNIFICANCE})"))
    else:
        recs.append(Recommendation("Best accuracy-speed balance", baseline,
                                   "every faster recipe on the frontier loses accuracy significantly"))
    if points:
        fastest = max(points, key=lambda n: points[n][0])
        s = next(x for x in ok if x.name == fastest)
        smallest = min((x for x in ok if x.has_real_speed and "static_vram_gb" in x.speed),
                       key=lambda x: x.speed["static_vram_gb"], default=None)
        reason = f"fastest decode ({_fmt_ms(s.decode_ms)})"
        if smallest is not None:
            reason += f"; smallest static memory: {smallest.name} ({smallest.speed['static_vram_gb']:.3g} GB)"
        if s.worst_loss:
            task, acc = s.worst_loss
            reason += f"; note: significantly lower on {task} ({acc.delta:+.4g})"
        recs.append(Recommendation("Fastest + smallest", fastest, reason))
    safe = [s for s in ok if not s.needs_calibration and s.name != baseline and _not_worse(s)]
    if safe:
        pick = min(safe, key=lambda s: (s.decode_ms if s.has_real_speed else float("inf"), s.name))
        why = "needs no calibration data and no task is significantly below the baseline"
        if pick.has_real_speed:
            why += f"; {_fmt_ms(pick.decode_ms)}"
        recs.append(Recommendation("Safe default, no calibration", pick.name, why))
    for s in ok:
        if s.worst_loss:
            task, acc = s.worst_loss
            recs.append(Recommendation("Warning", s.name, f"do not use {s.name} where {task} matters: {acc.delta:+.4g} "
                                                         f"vs {baseline} (p = {acc.p_value:.2g})"))
    tied = [s.name for s in ok if s.name != baseline and s.accuracy and not any(
        a.significantly_worse or a.significantly_better for a in s.accuracy.values())]
    if tied:
        recs.append(Recommendation("Not significant", None,
                                   f"accuracy differences of {', '.join(tied)} vs {baseline} are not significant "
                                   f"(p >= {SIGNIFICANCE} on every task): choose among them by speed and memory, "
                                   "not by their accuracy ranking"))
    return recs


def headline_ablations(rows: list[dict]) -> list[dict]:
    """Ablation rows (vlmq.pipeline.ablation_deltas) reduced to each task's headline metric,
    scaled to the report's units (% or points)."""
    out = []
    for row in rows:
        family = task_family(row["task"])
        if family is None or "/" in row["task"] or row["metric"] != HEADLINE[family][0] or row.get("delta") is None:
            continue
        metric, scale, unit = HEADLINE[family]
        out.append({**row, "delta": row["delta"] * scale,
                    "ci_low": None if row.get("ci_low") is None else row["ci_low"] * scale,
                    "ci_high": None if row.get("ci_high") is None else row["ci_high"] * scale, "unit": unit})
    return out
