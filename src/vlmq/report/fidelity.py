"""The report's Fidelity and Failed-samples sections (pure: records and stored rows in, markdown lines out)."""

from __future__ import annotations

from vlmq.report.markdown import label, table
from vlmq.report.summary import HEADLINE, POOLED_FIDELITY_TASK, task_family
from vlmq.tasks.failures import WARN_SHARE, FailureSummary

COLUMNS = (
    ("kl_mean", "KL mean (nats)"),
    ("kl_max", "KL max (nats)"),
    ("top1_agreement", "top-1 agree %"),
    ("flips_to_wrong", "flips to wrong %"),
    ("flips_to_right", "flips to right %"),
    ("changed_answers", "changed answers %"),
)
PERCENT = {"top1_agreement", "flips_to_wrong", "flips_to_right", "changed_answers"}


def fidelity_records(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("kind") == "fidelity"]


def cell(rec: dict | None) -> str:
    """A fidelity value with its 95% CI: 3 significant digits for KL, one decimal for percentages."""
    if rec is None or rec.get("value") is None:
        return "–"
    percent = rec["metric"] in PERCENT

    def show(v: float) -> str:
        return f"{v * 100:.1f}" if percent else f"{v:.3g}"

    if rec.get("ci_low") is None or rec.get("ci_high") is None:
        return show(rec["value"])
    return f"{show(rec['value'])} [{show(rec['ci_low'])}, {show(rec['ci_high'])}]"


def fidelity_section(records: list[dict], outcomes: dict, baseline: str, img: dict) -> list[str]:
    out = ["## Fidelity to the baseline", ""]
    fid = fidelity_records(records)
    if not fid:
        return out + [
            f"No fidelity figures: they compare each recipe with the baseline `{baseline}` on the same "
            "prompts, so they need the baseline and at least one other recipe in the run.",
            "",
        ]
    approx = next((r.get("approximation") for r in fid if r["task"] != POOLED_FIDELITY_TASK), "top-k")
    out += [
        f"Every recipe teacher-forced on `{baseline}`'s own greedy answers, on the same prompts: next-token "
        f"KL(P_{baseline} ‖ P_recipe) per answer position (mean and max; over the baseline's {approx}, a lower "
        "bound of the full-vocabulary KL, see docs/tasks.md), the share of positions whose most likely token agrees, "
        "and "
        "flips: the share of samples whose score fell (to wrong) or rose (to right) against the baseline's, "
        "next to the headline accuracy delta. 95% bootstrap intervals over samples. Task `all` pools every "
        "task's samples. Where accuracy ties, the Pareto frontier and the recommendations rank by the KL "
        "(lower is closer to the baseline): fidelity breaks ties that accuracy cannot.",
        "",
    ]
    tasks = list(dict.fromkeys([POOLED_FIDELITY_TASK] + [r["task"] for r in fid]))
    for task in tasks:
        recs = {(r["recipe"], r["metric"]): r for r in fid if r["task"] == task}
        if not recs:
            continue
        accuracy = _headline_deltas(records, task)
        names = list(dict.fromkeys(r["recipe"] for r in fid if r["task"] == task))
        rows = [
            [label(n, (outcomes.get(n) or {}).get("kernel") or "")]
            + [cell(recs.get((n, m))) for m, _ in COLUMNS]
            + [accuracy.get(n, "–")]
            for n in names
        ]
        n = max(r.get("n") or 0 for r in recs.values())
        header = ["recipe", *[title for _, title in COLUMNS], "accuracy Δ"]
        out += [f"### {task} (n = {n})", "", *table(header, rows), ""]
    if img.get("fidelity"):
        out += [f"![Fidelity]({img['fidelity']})", ""]
    return out


def _headline_deltas(records: list[dict], task: str) -> dict[str, str]:
    """recipe -> the paired delta of the task's headline metric (the accuracy the flips sit next to)."""
    family = task_family(task)
    if family is None:
        return {}
    metric, scale, unit = HEADLINE[family]
    out = {}
    for r in records:
        if r["task"] == task and r["metric"] == metric and r.get("kind") != "fidelity" and r.get("delta") is not None:
            mark = "*" if r.get("p_value") is not None and r["p_value"] < 0.05 else ""
            out[r["recipe"]] = f"{r['delta'] * scale:+.1f}{mark} {unit}"
    return out


def failure_warning(summaries: list[FailureSummary]) -> list[str]:
    """The line at the top of the report when a recipe lost more than WARN_SHARE of a task's samples."""
    alarming = [s for s in summaries if s.alarming]
    if not alarming:
        return []
    which = "; ".join(f"{s.recipe} · {s.task} ({s.n_failed} of {s.n})" for s in alarming)
    return [
        f"> **Warning: more than {WARN_SHARE:.0%} of the samples failed** in {which}: their metrics rest on "
        "fewer samples than asked for (see Failed samples).",
        "",
    ]


def failure_section(summaries: list[FailureSummary]) -> list[str]:
    out = ["## Failed samples", ""]
    if not summaries:
        return out + ["No sample failed.", ""]
    rows = [[s.recipe, s.task, f"{s.n_failed} of {s.n}", s.reasons_text().replace("|", "/")] for s in summaries]
    return out + [
        "Failed samples are left out of every metric (their n is lower), never scored as wrong.",
        "",
        *table(["recipe", "task", "failed", "reasons (first ids)"], rows),
        "",
    ]
