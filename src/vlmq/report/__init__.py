"""The report: `report.md` + PNG charts written from the store alone (and an optional single-file HTML).

Sections: (a warning when many samples failed), Outcomes, Failed samples, Summary, Accuracy, Fidelity,
Speed and memory, Pareto, Recommendations, Ablations, Diagnosis (when present), Original study (when
the model is Qwen2-VL-2B-Instruct), Calibration, Provenance. Every figure from an emulated recipe is
labelled `emulated`; speed is shown only for real kernels, and timings from the CPU or a tiny model are
labelled as not indicative of GPU deployment. Beside report.md: lmms-eval-format result files
(`vlmq.report.lmms_eval`).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from vlmq.pipeline import ablation_deltas, ablation_pairs
from vlmq.report import charts
from vlmq.report.fidelity import failure_section, failure_warning, fidelity_section
from vlmq.report.lmms_eval import write_lmms_eval
from vlmq.report.markdown import ci_text, delta_text, fmt, label, table
from vlmq.report.original_study import ORIGINAL_STUDY, is_original_study_model
from vlmq.report.summary import (
    HEADLINE,
    headline_ablations,
    headline_tasks,
    memory_label,
    pareto_front,
    ranges_overlap,
    recommend,
    speed_accuracy_points,
    speed_caveat,
    summarize,
    task_family,
)
from vlmq.spec import RunSpec
from vlmq.store import Store
from vlmq.tasks.failures import failure_summaries
from vlmq.tasks.fidelity import is_fidelity_store_task
from vlmq.tasks.speed import ProfileTask

IMG_DIR = "img"
DIAGNOSIS_SECTION = Path("diagnosis") / "section.md"


def _outcomes_section(outcomes: dict) -> list[str]:
    rows = [
        [name, o["status"], o.get("kernel") or "–", (o.get("reason") or "").replace("|", "/")]
        for name, o in outcomes.items()
    ]
    return ["## Outcomes", "", *table(["recipe", "status", "kernels", "reason"], rows), ""]


def _summary_section(records, summaries, spec: RunSpec, device: str) -> list[str]:
    tasks = headline_tasks(records)
    by_key = {(r["recipe"], r["task"], r["metric"]): r for r in records if r.get("kind") != "fidelity"}
    base = next((s for s in summaries if s.name == spec.baseline), None)
    memory = memory_label(device)
    fidelity = any(s.kl is not None for s in summaries)
    header = (
        ["recipe", "kernels"]
        + [f"{t} {HEADLINE[task_family(t)][0]}" for t in tasks]
        + ([f"KL to {spec.baseline} (nats)", "top-1 agree %"] if fidelity else [])
        + ["TTFT speed-up", "decode speed-up", f"static {memory} (GB)", f"dynamic {memory} (GB)"]
    )
    rows = []
    for s in summaries:
        if s.status != "ok":
            continue
        cells = [s.name, s.kernel]
        for t in tasks:
            metric, scale, _ = HEADLINE[task_family(t)]
            rec = by_key.get((s.name, t, metric))
            cells.append(ci_text(rec, scale) + delta_text(rec, scale) if rec else "–")
        cells += (_fidelity_cells(s, spec.baseline) if fidelity else []) + _speedup_cells(s, base)
        cells += [fmt(s.speed.get("static_vram_gb"), digits=3), fmt(s.speed.get("dynamic_vram_gb"), digits=3)]
        rows.append(cells)
    caveat = speed_caveat(summaries)
    note = (
        f"Values with 95% bootstrap CI; in parentheses the paired difference to `{spec.baseline}` "
        "(* = significant at p < 0.05: McNemar for yes/no correctness, paired bootstrap otherwise). "
        "Accuracy in %, MME in points. KL and top-1 agreement: fidelity to the baseline over every task's samples "
        "(see Fidelity). Speed-ups are over the baseline recipe in the same run; speed is reported only for real "
        "kernels, and a speed-up inside the measured spread (min-max over repeats overlapping the baseline's) "
        'is marked "within spread": it is no measured difference.'
    )
    lines = ["## Summary", "", note, ""]
    if caveat:
        lines += [f"**Speed figures {caveat}.**", ""]
    return lines + [*table(header, rows), ""]


def _fidelity_cells(s, baseline: str) -> list[str]:
    if s.name == baseline:
        return ["reference", "reference"]
    if s.kl is None:
        return ["–", "–"]
    value, low, high = s.kl
    kl = f"{value:.3g}" if low is None else f"{value:.3g} [{low:.3g}, {high:.3g}]"
    return [kl, "–" if s.top1 is None else f"{s.top1 * 100:.1f}"]


def _speedup_cells(s, base) -> list[str]:
    if not (s.has_real_speed and base is not None and base.has_real_speed):
        return ["not measured" if s.kernel != "real" else "–"] * 2
    cells = []
    for metric in ("ttft_ms", "decode_ms_per_token"):
        ratio = base.speed[metric] / s.speed[metric]
        inside = s.name != base.name and ranges_overlap(s.spread.get(metric), base.spread.get(metric))
        cells.append(f"{ratio:.2f}x" + (" (within spread)" if inside else ""))
    return cells


def _accuracy_section(records, recipes, outcomes) -> list[str]:
    out = ["## Accuracy", ""]
    records = [r for r in records if r.get("kind") != "fidelity"]
    tasks = sorted(
        {r["task"] for r in records if task_family(r["task"]) and r.get("value") is not None and "metric" in r},
        key=lambda t: (t.split("/")[0], t),
    )
    for family in ("vqa", "pope", "mme"):
        fam_tasks = [t for t in tasks if task_family(t) == family]
        if not fam_tasks:
            continue
        metrics = sorted(
            {r["metric"] for r in records if r["task"] in fam_tasks}, key=lambda m: (not m.endswith("total"), m)
        )
        scale = 1.0 if family == "mme" else 100.0
        for task in fam_tasks:
            recs = {(r["recipe"], r["metric"]): r for r in records if r["task"] == task}
            task_metrics = [m for m in metrics if any((n, m) in recs for n in recipes)]
            rows = [
                [label(n, outcomes.get(n, {}).get("kernel", ""))]
                + [ci_text(recs[(n, m)], scale) if (n, m) in recs else "–" for m in task_metrics]
                for n in recipes
                if any((n, m) in recs for m in task_metrics)
            ]
            n = next((r.get("n") for r in recs.values()), None)
            out += [
                f"### {task} (n = {n}, {'points' if family == 'mme' else '%'})",
                "",
                *table(["recipe", *task_metrics], rows),
                "",
            ]
    return out


def _speed_section(records, summaries, device: str) -> list[str]:
    profiles = [r for r in records if r["task"].startswith(ProfileTask.name) and r.get("value") is not None]
    speed = [
        r
        for r in records
        if r["task"].startswith("speed") and r.get("value") is not None and not r["task"].startswith(ProfileTask.name)
    ]
    skipped = [r for r in records if r["task"] == "speed" and r["metric"] == "not_measured"]
    out = ["## Speed and memory", ""]
    if not speed and not skipped:
        return out + ["No speed task in this run (add `speed` to --tasks).", ""]
    caveat = speed_caveat(summaries)
    out.append(
        f"Device: **{device}**. Medians over repeats with [min, max]; differences inside those ranges are "
        "not differences." + (f" **Timings {caveat}.**" if caveat else "")
    )
    out.append("")
    metrics = [
        "ttft_ms",
        "vision_ms",
        "prefill_ms",
        "decode_ms_per_token",
        "tokens_per_s",
        "static_vram_gb",
        "dynamic_vram_gb",
        "mem_kv_cache_gb",  # the long-context point's KV cache: what an FP8 cache buys
        "bandwidth_fraction",
        "speedup_vs_hf_eager",
    ]
    points = sorted({r["task"] for r in speed}, key=lambda t: (t != "speed", len(t), t))
    for point in points:
        recs = {(r["recipe"], r["metric"]): r for r in speed if r["task"] == point}
        names = list(dict.fromkeys(r["recipe"] for r in speed if r["task"] == point))
        cols = [m for m in metrics if any((n, m) in recs for n in names)]
        rows = [[n] + [ci_text(recs[(n, m)], 1.0, 3) if (n, m) in recs else "–" for m in cols] for n in names]
        cols = [m.replace("vram", memory_label(device)) for m in cols]
        params = next((r.get("params") for r in speed if r["task"] == point and r.get("params")), {}) or {}
        title = ", ".join(
            f"{k}={v}" for k, v in params.items() if k in ("batch_size", "image_size", "new_tokens", "prompt_tokens")
        )
        out += [f"### {point} ({title})", "", *table(["recipe", *cols], rows), ""]
        ooms = [r for r in records if r["task"] == point and r["metric"] == "oom"]
        out += [f"- {r['recipe']}: out of memory at this point" for r in ooms]
    for r in skipped:
        out.append(f"- {r['recipe']}: speed not measured ({r.get('reason')})")
    return out + [""] + _profile_lines(profiles)


def _profile_lines(profiles: list[dict]) -> list[str]:
    """Kernel time per decode step and per first token, and what each kernel of a decoder layer adds to a step."""
    if not profiles:
        return []
    out = [
        "### Where the time goes (torch.profiler, kernels in the captured step)",
        "",
        "Kernel µs per decode step (batch 1 / the largest batch) and per first token; per decoder layer, what each "
        "kernel in launch order adds to the step (overlapping kernels count once).",
        "",
    ]
    rows = []
    for r in profiles:
        point = r["task"][len(ProfileTask.name) :].lstrip("/") or "bs1"
        layer = (r.get("params") or {}).get("layer")
        places = (
            " · ".join(
                f"{p['kernel'].split('_kernel')[0][:24]} {p.get('added_us', p['us']):.1f}" for p in layer["places"]
            )
            if layer
            else "–"
        )
        rows.append([r["recipe"], point, f"{r['value']:.0f}", places])
    return out + table(["recipe", "point", "kernel µs", "a layer's kernels: µs added to the step"], rows) + [""]


def _recommendation_section(summaries, spec) -> list[str]:
    out = ["## Recommendations", ""]
    for rec in recommend(summaries, spec.baseline):
        who = f"**{rec.recipe}**: " if rec.recipe else ""
        out.append(f"- *{rec.title}* — {who}{rec.reason}.")
    return out + [""]


def _speedup_range(p) -> str:
    if p.speedup_range is None:
        return f"{p.speedup:.2f}x"
    return f"{p.speedup:.2f}x [{p.speedup_range[0]:.2f}, {p.speedup_range[1]:.2f}]"


def _pareto_section(points, summaries, img: dict, spec) -> list[str]:
    out = ["## Pareto", ""]
    if not points:
        return out + [
            "No Pareto frontier: it needs real-kernel speed figures for the baseline and at least one other "
            "recipe on this device (emulated recipes report accuracy only).",
            "",
        ]
    front = pareto_front(points)
    rows = [
        [
            n,
            _speedup_range(p),
            f"{p.recovery * 100:.1f}%",
            "–" if p.kl is None else f"{p.kl[0]:.3g}",
            "yes" if n in front else "",
        ]
        for n, p in points.items()
    ]
    caveat = speed_caveat(summaries)
    out += [
        f"Decode speed-up over `{spec.baseline}` against accuracy recovery (mean over tasks of the headline "
        "metric divided by the baseline's). Speed-ups whose ranges over repeats overlap count as equal; equal "
        f"recoveries (to 0.1 point) are ranked by the KL to `{spec.baseline}` when their 95% CIs do not overlap: "
        "fidelity breaks the ties that accuracy cannot." + (f" **Speed figures {caveat}.**" if caveat else ""),
        "",
        *table(
            ["recipe", "decode speed-up [range]", "accuracy recovery", f"KL to {spec.baseline}", "on frontier"], rows
        ),
        "",
    ]
    if img.get("pareto"):
        out += [f"![Pareto frontier]({img['pareto']})", ""]
    return out


def _ablation_section(rows, img) -> list[str]:
    if not rows:
        return []

    def ci(r):
        return "–" if r.get("ci_low") is None else f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"

    rows_ = [
        [
            label(r["recipe"], r.get("kernel", "")),
            r["without"],
            r["switch"],
            r["task"],
            f"{r['delta']:+.2f} {r['unit']}",
            ci(r),
            "–" if r.get("p_value") is None else f"{r['p_value']:.3g}",
            r["test"],
        ]
        for r in rows
    ]
    out = [
        "## Ablations",
        "",
        "Each switch against the same recipe without it, on the same samples (headline metric; paired test per task).",
        "",
        *table(["recipe", "against", "switch", "task", "delta", "95% CI", "p", "test"], rows_),
        "",
    ]
    if img.get("ablation"):
        out += [f"![Ablations]({img['ablation']})", ""]
    return out


def _calibration_section(outcomes) -> list[str]:
    rows = []
    for name, o in outcomes.items():
        details = o.get("details") or {}
        for kind in ("calibration", "kv_calibration"):
            c = details.get(kind)
            if c:
                rows.append(
                    [
                        name,
                        "weights/activations" if kind == "calibration" else "KV-cache scales",
                        str(c.get("source")),
                        str(c.get("n")),
                        ",".join(c.get("languages") or []) or "–",
                        f"{c.get('image_share', 0):.0%}",
                        "yes" if c.get("text_only") else "no",
                    ]
                )
    if not rows:
        return ["## Calibration", "", "No recipe in this run needed calibration data.", ""]
    return [
        "## Calibration",
        "",
        *table(["recipe", "for", "source", "n", "languages", "with image", "text only"], rows),
        "",
    ]


def _original_study_section(records, spec) -> list[str]:
    if not is_original_study_model(spec.model):
        return []
    ours = {(r["recipe"], r["task"], r["metric"]): r["value"] for r in records if r.get("value") is not None}
    rows = []
    for row in ORIGINAL_STUDY["rows"]:
        r = row["vlmq_recipe"]
        rows.append(
            [
                row["config"],
                fmt(row["vqav2"]),
                fmt(ours.get((r, "vqav2", "accuracy")), 100.0),
                fmt(row["pope_f1"]),
                fmt(ours.get((r, "pope", "f1")), 100.0),
                fmt(row["mme_total"], digits=0),
                fmt(_mme_total(ours, r), digits=0),
                "–" if row["decode_speedup"] is None else f"{row['decode_speedup']:.2f}x",
            ]
        )
    return [
        "## Original study side by side",
        "",
        f"Their figures: {ORIGINAL_STUDY['device']}, {ORIGINAL_STUDY['engine']} (published table). "
        "Ours: this run's device and engine. Their speed-ups are over PyTorch BF16 eager on their GPU.",
        "",
        *table(
            [
                "config",
                "VQAv2 theirs",
                "VQAv2 ours",
                "POPE F1 theirs",
                "POPE F1 ours",
                "MME theirs",
                "MME ours",
                "decode speed-up theirs",
            ],
            rows,
        ),
        "",
    ]


def _mme_total(ours: dict, recipe: str):
    p, c = ours.get((recipe, "mme", "perception_total")), ours.get((recipe, "mme", "cognition_total"))
    return None if p is None else p + (c or 0.0)


def _provenance_section(store: Store, spec: RunSpec) -> list[str]:
    meta = store.get_meta("provenance") or {}
    lines = ["## Provenance", ""] + [f"- {k}: `{v}`" for k, v in meta.items()]
    lines += (
        ["", "Spec:", "", "```toml"]
        + [f"{k} = {_toml(v)}" for k, v in spec.to_dict().items() if v is not None]
        + ["```", ""]
    )
    return lines


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value) if isinstance(value, (int, float)) else f'"{value}"'


def _summaries(store: Store, records: list[dict]):
    outcomes = store.outcomes()
    # weight or KV-scale calibration: either needs calibration data
    calibrated = {
        n
        for n, o in outcomes.items()
        if (o.get("details") or {}).get("calibration") or (o.get("details") or {}).get("kv_calibration")
    }
    return summarize(records, outcomes, calibrated)


def recommended_recipes(store: Store, spec: RunSpec, records: list[dict]) -> list[str]:
    """The recipes the report's recommendations name, best first (the balance, then the others), unique."""
    named = [
        rec.recipe
        for rec in recommend(_summaries(store, records), spec.baseline)
        if rec.recipe is not None and rec.title != "Warning"
    ]
    return list(dict.fromkeys(named))


def write_report(store: Store, spec: RunSpec, records: list[dict]) -> Path:
    """Write report.md and its charts (under img/) into the run directory."""
    run_dir = store.run_dir
    (run_dir / IMG_DIR).mkdir(exist_ok=True)
    outcomes = store.outcomes()
    recipes = list(outcomes)
    summaries = _summaries(store, records)
    device = (store.get_meta("provenance") or {}).get("device", "unknown device")
    points = speed_accuracy_points(summaries, spec.baseline)
    ablation_rows = headline_ablations(
        ablation_deltas(store, spec, [p for p in ablation_pairs(recipes) if p[1] in outcomes])
    )
    display = {n: label(n, o.get("kernel") or "") for n, o in outcomes.items()}
    for row in ablation_rows:
        row["kernel"] = outcomes.get(row["recipe"], {}).get("kernel", "")
    img_path = lambda name: run_dir / IMG_DIR / f"{name}.png"  # noqa: E731
    drawn = {
        "accuracy": charts.accuracy_chart(records, recipes, img_path("accuracy"), display),
        "mme": charts.mme_heatmap(records, recipes, spec.baseline, img_path("mme_heatmap"), display),
        "latency": charts.latency_chart(summaries, img_path("latency"), device),
        "vram": charts.vram_chart(summaries, img_path("vram"), device),
        "pareto": charts.pareto_chart(points, img_path("pareto"), device, spec.baseline, speed_caveat(summaries)),
        "ablation": charts.ablation_chart(ablation_rows, img_path("ablation")),
        "fidelity": charts.fidelity_chart(records, recipes, img_path("fidelity"), display, spec.baseline),
    }
    img = {k: f"{IMG_DIR}/{p.name}" for k, p in drawn.items() if p is not None}
    rows = [r for r in store.samples() if not is_fidelity_store_task(r["task"])]
    failures = failure_summaries(rows)
    lines = [
        f"# vlmq report: {spec.model}",
        "",
        f"Device: **{device}** · recipes: {len(recipes)} · tasks: {', '.join(spec.tasks)} · "
        f"baseline: `{spec.baseline}` · scoring: {spec.scoring}",
        "",
        *failure_warning(failures),
    ]
    lines += (
        _outcomes_section(outcomes) + failure_section(failures) + _summary_section(records, summaries, spec, device)
    )
    lines += [f"![{k}]({img[k]})\n" for k in ("accuracy", "mme") if k in img]
    lines += _accuracy_section(records, recipes, outcomes) + fidelity_section(records, outcomes, spec.baseline, img)
    lines += _speed_section(records, summaries, device)
    lines += [f"![{memory_label(device) if k == 'vram' else k}]({img[k]})\n" for k in ("latency", "vram") if k in img]
    lines += _pareto_section(points, summaries, img, spec) + _recommendation_section(summaries, spec)
    lines += _ablation_section(ablation_rows, img)
    if (run_dir / DIAGNOSIS_SECTION).is_file():
        lines += [(run_dir / DIAGNOSIS_SECTION).read_text(), ""]
    lines += _original_study_section(records, spec) + _calibration_section(outcomes) + _provenance_section(store, spec)
    path = run_dir / "report.md"
    path.write_text("\n".join(lines))
    write_lmms_eval(store, spec, records, rows)
    return path


def write_html(run_dir: str | Path) -> Path:
    """A single-file HTML version of report.md with every image embedded (no network, no extra packages)."""
    run_dir = Path(run_dir)
    html_lines, in_table, in_code = [], False, False
    for line in (run_dir / "report.md").read_text().splitlines():
        if line.startswith("```"):
            html_lines.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            html_lines.append(_escape(line))
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                html_lines.append("<table>")
                in_table = True
            html_lines.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            html_lines.append("</table>")
            in_table = False
        html_lines.append(_block(line, run_dir))
    body = "\n".join(html_lines + (["</table>"] if in_table else []))
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}td{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}img{max-width:100%}"
    )
    path = run_dir / "report.html"
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>{body}</body></html>"
    )
    return path


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inline(text: str) -> str:
    text = _escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _block(line: str, run_dir: Path) -> str:
    image = re.match(r"!\[(.*?)\]\((.+?)\)", line)
    if image:
        data = base64.b64encode((run_dir / image.group(2)).read_bytes()).decode()
        return f"<p><img alt='{_escape(image.group(1))}' src='data:image/png;base64,{data}'></p>"
    heading = re.match(r"(#+) (.*)", line)
    if heading:
        level = len(heading.group(1))
        return f"<h{level}>{_inline(heading.group(2))}</h{level}>"
    if line.startswith("- "):
        return f"<li>{_inline(line[2:])}</li>"
    if line.startswith("> "):
        return f"<blockquote>{_inline(line[2:])}</blockquote>"
    return f"<p>{_inline(line)}</p>" if line.strip() else ""
