"""PNG charts for the report (matplotlib, Agg). Each function writes one file and returns its path, or None
when the run has nothing to draw (e.g. no real-kernel speed figures)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vlmq.figures import save_figure  # noqa: E402
from vlmq.report.summary import (  # noqa: E402
    HEADLINE,
    POOLED_FIDELITY_TASK,
    Point,
    RecipeSummary,
    headline_tasks,
    memory_label,
    pareto_front,
    speed_caveat,
    task_family,
)


def _width(n: int) -> float:
    return max(6.0, 0.9 * n + 2.5)


def latency_chart(summaries: list[RecipeSummary], path: Path, device: str) -> Path | None:
    rows = [s for s in summaries if s.has_real_speed]
    if not rows:
        return None
    names = [s.name for s in rows]
    fig, axes = plt.subplots(1, 2, figsize=(_width(len(rows)) * 1.4, 4.2))
    for ax, metric, title in (
        (axes[0], "ttft_ms", "Time to first token"),
        (axes[1], "decode_ms_per_token", "Decode latency"),
    ):
        values = [s.speed.get(metric, float("nan")) for s in rows]
        bars = ax.bar(names, values, color="#4C72B0")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.set_title(f"{title} ({device})")
        ax.set_ylabel("ms" if metric == "ttft_ms" else "ms / token")
        ax.tick_params(axis="x", rotation=35, labelsize=8)
    caveat = speed_caveat(summaries)
    if caveat:
        fig.suptitle(f"Timings {caveat}", fontsize=10, color="#C44E52")
    return save_figure(fig, path)


def vram_chart(summaries: list[RecipeSummary], path: Path, device: str) -> Path | None:
    rows = [s for s in summaries if s.has_real_speed and "static_vram_gb" in s.speed]
    if not rows:
        return None
    names = [s.name for s in rows]
    static = [s.speed["static_vram_gb"] for s in rows]
    dynamic = [s.speed.get("dynamic_vram_gb", 0.0) for s in rows]
    fig, ax = plt.subplots(figsize=(_width(len(rows)), 4.2))
    ax.bar(names, static, label="static (after load)", color="#4C72B0")
    ax.bar(names, dynamic, bottom=static, label="dynamic (peak in generation - static)", color="#DD8452")
    ax.set_ylabel(f"{memory_label(device)} (GB)")
    ax.set_title(f"Memory per recipe ({device})")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=35, labelsize=8)
    return save_figure(fig, path)


def accuracy_chart(
    records: list[dict], recipes: list[str], path: Path, display: dict[str, str] | None = None
) -> Path | None:
    tasks = headline_tasks(records)
    if not tasks:
        return None
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(max(5.0, 0.55 * len(recipes) + 2) * len(tasks), 4.4), squeeze=False
    )
    for ax, task in zip(axes[0], tasks):
        metric, scale, unit = HEADLINE[task_family(task)]
        recs = {
            r["recipe"]: r
            for r in records
            if r["task"] == task and r["metric"] == metric and r.get("value") is not None
        }
        names = [n for n in recipes if n in recs]
        values = [recs[n]["value"] * scale for n in names]
        low = [
            max(
                0.0,
                (recs[n]["value"] - (recs[n].get("ci_low") if recs[n].get("ci_low") is not None else recs[n]["value"]))
                * scale,
            )
            for n in names
        ]
        high = [
            max(
                0.0,
                (
                    (recs[n].get("ci_high") if recs[n].get("ci_high") is not None else recs[n]["value"])
                    - recs[n]["value"]
                )
                * scale,
            )
            for n in names
        ]
        colors = [
            "#C44E52"
            if (recs[n].get("p_value") is not None and recs[n]["p_value"] < 0.05 and (recs[n].get("delta") or 0) < 0)
            else "#4C72B0"
            for n in names
        ]
        ax.bar([(display or {}).get(n, n) for n in names], values, yerr=[low, high], capsize=3, color=colors)
        ax.set_title(f"{task}: {metric} (95% CI)")
        ax.set_ylabel(unit)
        ax.tick_params(axis="x", rotation=40, labelsize=8)
    fig.suptitle("Accuracy per task (red: significantly below the baseline, p < 0.05)", fontsize=10)
    return save_figure(fig, path)


def mme_heatmap(
    records: list[dict], recipes: list[str], baseline: str, path: Path, display: dict[str, str] | None = None
) -> Path | None:
    mme_tasks = [t for t in headline_tasks(records) if task_family(t) == "mme"]
    if not mme_tasks:
        return None
    task = mme_tasks[0]
    scores = {
        (r["recipe"], r["metric"][: -len("_score")]): r["value"]
        for r in records
        if r["task"] == task and r["metric"].endswith("_score") and r.get("value") is not None
    }
    subtasks = sorted({sub for _, sub in scores})
    others = [n for n in recipes if n != baseline and any((n, s) in scores for s in subtasks)]
    if not subtasks or not others or not any((baseline, s) in scores for s in subtasks):
        return None
    grid = [
        [scores.get((n, s), float("nan")) - scores.get((baseline, s), float("nan")) for s in subtasks] for n in others
    ]
    limit = max(1.0, max((abs(v) for row in grid for v in row if v == v), default=1.0))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(subtasks) + 3), max(2.5, 0.45 * len(others) + 1.8)))
    image = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(subtasks)), subtasks, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(others)), [(display or {}).get(n, n) for n in others], fontsize=8)
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if v == v:
                ax.text(j, i, f"{v:+.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label=f"score delta vs {baseline} (points)")
    ax.set_title(f"{task}: per-subtask score minus {baseline}")
    return save_figure(fig, path)


def pareto_chart(
    points: dict[str, Point], path: Path, device: str, baseline: str, caveat: str | None = None
) -> Path | None:
    """Accuracy recovery against decode speed-up, with each speed-up's range over repeats."""
    if len(points) < 2:
        return None
    front = pareto_front(points)
    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    for name, p in points.items():
        color = "#C44E52" if name in front else "#8C8C8C"
        span = p.speedup_range
        xerr = None if span is None else [[max(0.0, p.speedup - span[0])], [max(0.0, span[1] - p.speedup)]]
        ax.errorbar(p.speedup, p.recovery * 100, xerr=xerr, fmt="o", color=color, capsize=3, zorder=3)
        ax.annotate(name, (p.speedup, p.recovery * 100), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ordered = sorted(front, key=lambda n: points[n].speedup)
    ax.plot(
        [points[n].speedup for n in ordered],
        [points[n].recovery * 100 for n in ordered],
        color="#C44E52",
        linestyle="--",
        label="Pareto frontier (ties: lower KL to the baseline)",
    )
    ax.set_xlabel(f"decode speed-up over {baseline} (x, {device}; bars: range over repeats)")
    ax.set_ylabel(f"accuracy recovery vs {baseline} (%)")
    ax.set_title("Accuracy vs decode speed" + (f"\n(timings {caveat})" if caveat else ""), fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def ablation_chart(rows: list[dict], path: Path) -> Path | None:
    if not rows:
        return None
    labels = [f"{r['recipe']}{' (emulated)' if r.get('kernel') == 'emulated' else ''}\n{r['task']}" for r in rows]
    deltas = [r["delta"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 4.4))
    ax.bar(labels, deltas, color=["#C44E52" if d < 0 else "#55A868" for d in deltas])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("headline metric delta (switch on - off; % or points)")
    ax.set_title("Ablations: effect of each switch against its parent recipe")
    ax.tick_params(axis="x", rotation=35, labelsize=7)
    return save_figure(fig, path)


def fidelity_chart(
    records: list[dict], recipes: list[str], path: Path, display: dict[str, str] | None, baseline: str
) -> Path | None:
    """KL to the baseline (log scale) and top-1 agreement per recipe, over every task (95% CIs)."""
    pooled = {
        (r["recipe"], r["metric"]): r
        for r in records
        if r.get("kind") == "fidelity" and r["task"] == POOLED_FIDELITY_TASK and r.get("value") is not None
    }
    names = [n for n in recipes if (n, "kl_mean") in pooled]
    if not names:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(_width(len(names)) * 1.4, 4.4))
    for ax, metric, scale, title in (
        (axes[0], "kl_mean", 1.0, f"KL(P_{baseline} ‖ P_recipe), nats"),
        (axes[1], "top1_agreement", 100.0, f"top-1 agreement with {baseline}, %"),
    ):
        recs = [pooled.get((n, metric)) for n in names]
        values = [r["value"] * scale if r else float("nan") for r in recs]
        low = [max(0.0, (r["value"] - r["ci_low"]) * scale) if r and r.get("ci_low") is not None else 0.0 for r in recs]
        high = [
            max(0.0, (r["ci_high"] - r["value"]) * scale) if r and r.get("ci_high") is not None else 0.0 for r in recs
        ]
        ax.bar([(display or {}).get(n, n) for n in names], values, yerr=[low, high], capsize=3, color="#8172B3")
        if metric == "kl_mean" and all(v > 0 for v in values if v == v):
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", rotation=35, labelsize=8)
    fig.suptitle(f"Fidelity to {baseline}, teacher-forced on its answers (all tasks; 95% CI)", fontsize=10)
    return save_figure(fig, path)
