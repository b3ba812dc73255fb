"""Pure functions from tidy records to what the report says: per-recipe summaries, the Pareto frontier,
and recommendations with their reasons. No I/O here, so every rule is unit-tested on hand-made records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

SIGNIFICANCE = 0.05
# Speed measured on a model with fewer decoder-linear parameters than this (or on the CPU) says nothing
# about deploying a real model on a GPU: launch overheads, not weights, dominate its timings.
SMALL_MODEL_PARAMS = 100_000_000
# Accuracy recoveries equal to this many decimals (0.1 point) are a tie that fidelity may break.
RECOVERY_DECIMALS = 3
POOLED_FIDELITY_TASK = "all"  # vlmq.tasks.fidelity.POOLED_TASK: the run-level fidelity records
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
        if (
            "/" not in task
            and task_family(task)
            and rec.get("metric") == HEADLINE[task_family(task)][0]
            and task not in seen
        ):
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
    speed: dict[str, float] = field(default_factory=dict)  # metric -> value at the headline point
    spread: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> (min, max) over repeats
    speed_device: str | None = None  # the device the speed records name ("cpu" or a GPU)
    decoder_params: int | None = None  # parameters of the decoder's linears (the recipe summary)
    kl: tuple[float, float | None, float | None] | None = None  # pooled KL to the baseline (value, CI)
    top1: float | None = None  # pooled top-1 agreement with the baseline

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

    def decode_range(self) -> tuple[float, float] | None:
        """(min, max) decode ms/token over the repeats, or None where no spread was recorded."""
        return self.spread.get("decode_ms_per_token")

    def recovery(self, baseline: "RecipeSummary") -> float | None:
        """Mean over tasks of value / baseline value: one accuracy axis for the Pareto plot."""
        ratios = [
            a.value / baseline.accuracy[t].value
            for t, a in self.accuracy.items()
            if t in baseline.accuracy and baseline.accuracy[t].value
        ]
        return sum(ratios) / len(ratios) if ratios else None


def summarize(
    records: list[dict], outcomes: dict[str, dict], calibrated: set[str] = frozenset()
) -> list[RecipeSummary]:
    """One RecipeSummary per recipe, in outcome order, from the run's tidy records."""
    summaries = {
        name: RecipeSummary(
            name,
            kernel=o.get("kernel") or "unknown",
            status=o["status"],
            needs_calibration=name in calibrated,
            decoder_params=_decoder_params(o.get("details")),
        )
        for name, o in outcomes.items()
    }
    for task in headline_tasks(records):
        metric = HEADLINE[task_family(task)][0]
        for rec in records:
            if rec["task"] == task and rec["metric"] == metric and rec.get("value") is not None:
                summary = summaries.setdefault(rec["recipe"], RecipeSummary(rec["recipe"]))
                summary.accuracy[task] = Accuracy(
                    rec["value"], (rec.get("ci_low"), rec.get("ci_high")), rec.get("delta"), rec.get("p_value")
                )
    for rec in records:
        if rec.get("value") is None or rec["recipe"] not in summaries:
            continue
        summary = summaries[rec["recipe"]]
        if rec["task"] == "speed":
            summary.speed[rec["metric"]] = rec["value"]
            summary.speed_device = rec.get("device") or summary.speed_device
            if rec.get("ci_low") is not None and rec.get("ci_high") is not None:
                summary.spread[rec["metric"]] = (rec["ci_low"], rec["ci_high"])
        elif rec.get("kind") == "fidelity" and rec["task"] == POOLED_FIDELITY_TASK:
            if rec["metric"] == "kl_mean":
                summary.kl = (rec["value"], rec.get("ci_low"), rec.get("ci_high"))
            elif rec["metric"] == "top1_agreement":
                summary.top1 = rec["value"]
    return list(summaries.values())


def _decoder_params(details: dict | None) -> int | None:
    formats = (details or {}).get("formats") or {}
    total = sum(entry.get("params", 0) for entry in formats.values())
    return total or None


def is_cpu(device: str | None) -> bool:
    """Device labels: speed records say "cpu", provenance "cpu (x86_64, 2 threads)"; GPUs give their name."""
    return bool(device) and device.lower().startswith("cpu")


def memory_label(device: str | None) -> str:
    """What the device's memory is called in tables: "VRAM" on a GPU, "memory" on the CPU."""
    return "memory" if is_cpu(device) or not device else "VRAM"


def speed_caveat(summaries: list[RecipeSummary]) -> str | None:
    """Why this run's timings do not predict GPU deployment (CPU, tiny model), or None when they may."""
    timed = [s for s in summaries if s.has_real_speed]
    if not timed:
        return None
    reasons = []
    if any(is_cpu(s.speed_device) for s in timed):
        reasons.append("measured on the CPU")
    params = [s.decoder_params for s in timed if s.decoder_params]
    if params and max(params) < SMALL_MODEL_PARAMS:
        reasons.append(
            f"on a model of {max(params) / 1e6:.3g} M decoder parameters (< {SMALL_MODEL_PARAMS / 1e6:.0f} M)"
        )
    return None if not reasons else " and ".join(reasons) + ": not indicative of GPU deployment"


def ranges_overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    """True when two measured (min, max) ranges overlap, i.e. the difference is inside the spread.
    Without a recorded spread a difference cannot be judged, so it is taken at face value (False)."""
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]


class Point(NamedTuple):
    """One recipe on the Pareto plane: decode speed-up over the baseline and accuracy recovery, with what
    decides ties: the speed-up's range over repeats and the KL to the baseline (value, CI low, CI high)."""

    speedup: float
    recovery: float
    speedup_range: tuple[float, float] | None = None
    kl: tuple[float, float | None, float | None] | None = None


def fidelity_cmp(a, b) -> int:
    """1 when KL ``a`` is measurably lower than ``b`` (95% CIs apart), -1 when higher, 0 otherwise."""
    if a is None or b is None:
        return 0
    a_low, a_high = _bounds(a)
    b_low, b_high = _bounds(b)
    return 1 if a_high < b_low else -1 if b_high < a_low else 0


def _bounds(kl) -> tuple[float, float]:
    value, low, high = kl
    return (value if low is None else low), (value if high is None else high)


def speed_cmp(a: Point, b: Point) -> int:
    """1 when ``a`` decodes measurably faster than ``b``, -1 slower, 0 inside the measured spread."""
    if a.speedup == b.speedup or ranges_overlap(a.speedup_range, b.speedup_range):
        return 0
    return 1 if a.speedup > b.speedup else -1


def accuracy_cmp(a: Point, b: Point) -> int:
    """Accuracy recovery (to 0.1 point) first; on a tie, fidelity: the lower KL to the baseline wins."""
    ra, rb = round(a.recovery, RECOVERY_DECIMALS), round(b.recovery, RECOVERY_DECIMALS)
    if ra != rb:
        return 1 if ra > rb else -1
    return fidelity_cmp(a.kl, b.kl)


def pareto_front(points: dict[str, tuple]) -> list[str]:
    """Names of the points no other point dominates, maximizing speed and accuracy.

    A point is dominated when another is at least as good on both axes and strictly better on one.
    Speeds whose measured ranges overlap are equal, but a point never falls to one with a lower median
    speed-up (a noisy, wide range must not knock out a measurably fast recipe); equal accuracy
    recoveries are told apart by the KL to the baseline (`accuracy_cmp`). Exact ties are all kept.
    Sorted fastest first.
    """
    pts = {name: Point(*p) for name, p in points.items()}

    def dominates(o: Point, p: Point) -> bool:
        speed, accuracy = speed_cmp(o, p), accuracy_cmp(o, p)
        return o.speedup >= p.speedup and speed >= 0 and accuracy >= 0 and (speed > 0 or accuracy > 0)

    front = [n for n, p in pts.items() if not any(dominates(o, p) for m, o in pts.items() if m != n)]
    return sorted(front, key=lambda n: (-pts[n].speedup, -pts[n].recovery, pts[n].kl[0] if pts[n].kl else 0.0, n))


def speed_accuracy_points(summaries: list[RecipeSummary], baseline: str) -> dict[str, Point]:
    """The Pareto points of the recipes with real-kernel speed figures (the baseline's KL is 0)."""
    base = next((s for s in summaries if s.name == baseline), None)
    if base is None or not base.has_real_speed:
        return {}
    points = {}
    for s in summaries:
        recovery = s.recovery(base)
        if s.has_real_speed and recovery is not None:
            spread = s.decode_range()
            span = (base.decode_ms / spread[1], base.decode_ms / spread[0]) if spread and min(spread) > 0 else None
            kl = (0.0, 0.0, 0.0) if s.name == baseline else s.kl
            points[s.name] = Point(base.decode_ms / s.decode_ms, recovery, span, kl)
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


def _fmt_kl(kl) -> str:
    return f"{kl[0]:.3g}" if kl[1] is None else f"{kl[0]:.3g} [{kl[1]:.3g}, {kl[2]:.3g}]"


def recommend(summaries: list[RecipeSummary], baseline: str) -> list[Recommendation]:
    """Deployment recommendations computed from the results, each with its reason.

    A sentence that rests on timings carries the speed caveat (CPU, tiny model) itself; speeds inside
    each other's measured spread are not called different; where accuracy ties, the KL to the baseline
    (fidelity) decides and the sentence says so.
    """
    ok = [s for s in summaries if s.status == "ok"]
    caveat = speed_caveat(ok)
    note = f" ({caveat})" if caveat else ""
    points = speed_accuracy_points(summaries, baseline)
    recs = [_balance(points, {s.name: s for s in ok}, baseline, note)]
    if points:
        recs += _fastest_and_smallest(points, ok, note)
    safe = _safe_default(ok, baseline, note)
    if safe is not None:
        recs.append(safe)
    for s in ok:
        if s.worst_loss:
            task, acc = s.worst_loss
            recs.append(
                Recommendation(
                    "Warning",
                    s.name,
                    f"do not use {s.name} where {task} matters: {acc.delta:+.4g} vs {baseline} (p = {acc.p_value:.2g})",
                )
            )
    tied = [
        s
        for s in ok
        if s.name != baseline
        and s.accuracy
        and not any(a.significantly_worse or a.significantly_better for a in s.accuracy.values())
    ]
    if tied:
        recs.append(Recommendation("Not significant", None, _not_significant(tied, baseline, note)))
    return recs


def _balance(points: dict[str, Point], by_name: dict[str, RecipeSummary], baseline: str, note: str) -> Recommendation:
    title = "Best accuracy-speed balance"
    if not points:
        return Recommendation(
            title,
            None,
            "no real-kernel speed figures for the baseline and the quantized recipes on "
            "this device, so no speed ranking is possible; accuracy alone is below",
        )
    safe_front = [n for n in pareto_front(points) if _not_worse(by_name[n])]
    if not safe_front:
        return Recommendation(title, baseline, "every faster recipe on the frontier loses accuracy significantly")
    best, rivals = _fastest_most_accurate(safe_front, points, baseline)
    p, base = points[best], points.get(baseline)
    if best == baseline:
        speed = "no recipe that keeps accuracy decodes measurably faster than it"
    elif base is not None and speed_cmp(p, base) == 0:
        speed = (
            f"{p.speedup:.2f}x the baseline's decode speed, which is inside the measured spread "
            "(no measurable speed-up)"
        )
    else:
        speed = f"{p.speedup:.2f}x the baseline's decode speed"
    reason = f"on the Pareto frontier, {speed}{note}, and no task significantly below {baseline} (p >= {SIGNIFICANCE})"
    if best != baseline and p.kl is not None:
        reason += f"; KL to {baseline} {_fmt_kl(p.kl)}"
    if rivals:
        reason += (
            f"; as fast as {', '.join(rivals)} within the measured spread and as accurate, but closer to "
            f"{baseline} (95% KL intervals apart): fidelity breaks the tie that accuracy cannot"
        )
    return Recommendation(title, best, reason)


def _fastest_most_accurate(front: list[str], points: dict[str, Point], baseline: str) -> tuple[str, list[str]]:
    """The fastest frontier point, or among those tied with it inside the measured spread (and, when it is
    measurably faster than the baseline, also measurably faster) the most accurate, fidelity breaking
    accuracy ties. Returns (choice, the tied recipes that only fidelity set apart)."""
    top, base = points[front[0]], points.get(baseline)
    tied = [
        n
        for n in front
        if speed_cmp(points[n], top) == 0
        and (base is None or speed_cmp(top, base) <= 0 or speed_cmp(points[n], base) > 0)
    ]
    best = tied[0]
    for name in tied[1:]:
        if accuracy_cmp(points[name], points[best]) > 0:
            best = name
    rivals = [
        n
        for n in tied
        if n != best
        and round(points[n].recovery, RECOVERY_DECIMALS) == round(points[best].recovery, RECOVERY_DECIMALS)
        and fidelity_cmp(points[best].kl, points[n].kl) > 0
    ]
    return best, rivals


def _fastest_and_smallest(points: dict[str, Point], ok: list[RecipeSummary], note: str) -> list[Recommendation]:
    by_name = {s.name: s for s in ok}
    fastest = max(points, key=lambda n: points[n].speedup)
    s = by_name[fastest]
    tied = [n for n in points if n != fastest and speed_cmp(points[n], points[fastest]) == 0]
    smallest = min(
        (x for x in ok if x.has_real_speed and "static_vram_gb" in x.speed),
        key=lambda x: x.speed["static_vram_gb"],
        default=None,
    )
    memory = f"static {memory_label(s.speed_device)}"
    if tied:
        fast = Recommendation(
            "Fastest",
            None,
            f"no single fastest recipe: {fastest}'s decode ({_fmt_ms(s.decode_ms)}) "
            f"is inside the measured spread of {', '.join(tied)}, their min-max "
            f"over repeats overlapping{note}",
        )
    else:
        reason = f"fastest decode ({_fmt_ms(s.decode_ms)}){note}"
        if smallest is not None and smallest.name == fastest:
            reason += f"; also the smallest {memory} ({smallest.speed['static_vram_gb']:.3g} GB)"
        if s.worst_loss:
            task, acc = s.worst_loss
            reason += f"; note: significantly lower on {task} ({acc.delta:+.4g})"
        both = smallest is not None and smallest.name == fastest
        fast = Recommendation("Fastest + smallest" if both else "Fastest", fastest, reason)
    recs = [fast]
    if smallest is not None and (tied or smallest.name != fastest):
        recs.append(
            Recommendation("Smallest", smallest.name, f"smallest {memory} ({smallest.speed['static_vram_gb']:.3g} GB)")
        )
    return recs


def _safe_default(ok: list[RecipeSummary], baseline: str, note: str) -> Recommendation | None:
    safe = [s for s in ok if not s.needs_calibration and s.name != baseline and _not_worse(s)]
    if not safe:
        return None
    timed = [s for s in safe if s.has_real_speed]
    pool = safe
    if timed:
        quickest = min(timed, key=lambda s: s.decode_ms)
        pool = [s for s in timed if s is quickest or ranges_overlap(s.decode_range(), quickest.decode_range())]
    pick = min(
        pool, key=lambda s: (s.kl[0] if s.kl else float("inf"), s.decode_ms if s.has_real_speed else 0.0, s.name)
    )
    why = "needs no calibration data and no task is significantly below the baseline"
    if pick.has_real_speed:
        why += f"; {_fmt_ms(pick.decode_ms)}{note}"
    if len(pool) > 1 and pick.kl is not None:
        names = ", ".join(s.name for s in pool)
        among = "equally fast inside the measured spread" if timed else "with no speed to rank them"
        why += (
            f"; of {names} ({among}), the lowest KL to {baseline} ({_fmt_kl(pick.kl)}): "
            "fidelity breaks the tie that accuracy cannot"
        )
    return Recommendation("Safe default, no calibration", pick.name, why)


def _not_significant(tied: list[RecipeSummary], baseline: str, note: str) -> str:
    text = (
        f"accuracy differences of {', '.join(s.name for s in tied)} vs {baseline} are not significant "
        f"(p >= {SIGNIFICANCE} on every task): do not choose among them by their accuracy ranking"
    )
    ranked = sorted((s for s in tied if s.kl is not None), key=lambda s: s.kl[0])
    if len(ranked) >= 2:
        low, high = ranked[0], ranked[-1]
        if fidelity_cmp(low.kl, high.kl) > 0:
            text += (
                f"; fidelity tells them apart: KL to {baseline} from {_fmt_kl(low.kl)} ({low.name}) to "
                f"{_fmt_kl(high.kl)} ({high.name}), 95% CIs apart"
            )
        else:
            text += f"; their KL to {baseline} does not separate them either (95% CIs overlap)"
    return text + f"; otherwise choose by speed and memory{note}"


def headline_ablations(rows: list[dict]) -> list[dict]:
    """Ablation rows (vlmq.pipeline.ablation_deltas) reduced to each task's headline metric,
    scaled to the report's units (% or points)."""
    out = []
    for row in rows:
        family = task_family(row["task"])
        if family is None or "/" in row["task"] or row["metric"] != HEADLINE[family][0] or row.get("delta") is None:
            continue
        metric, scale, unit = HEADLINE[family]
        out.append(
            {
                **row,
                "delta": row["delta"] * scale,
                "ci_low": None if row.get("ci_low") is None else row["ci_low"] * scale,
                "ci_high": None if row.get("ci_high") is None else row["ci_high"] * scale,
                "unit": unit,
            }
        )
    return out
