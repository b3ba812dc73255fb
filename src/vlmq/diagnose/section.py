"""``diagnosis/section.md``: the report's ``## Diagnosis`` section, built from the tables (image links
relative to the run directory, as the report includes the file verbatim)."""

from __future__ import annotations

from pathlib import Path

from .findings import SATURATION_FRAC, saturation_summary, visual_text_ratios

TOP_SENSITIVE = 5


def write_section(out: Path, spec, tables: dict) -> Path:
    lines = [
        "## Diagnosis",
        "",
        f"Model `{spec.model}`, recipes {', '.join(f'`{r}`' for r in spec.recipes)} against BF16. "
        "Tables (CSV, with `token_type` and `saturated_frac` columns) and findings (`findings.jsonl`) "
        "are in `diagnosis/`.",
        "",
    ]
    lines += _findings(tables["findings"]) + _ranges(tables["kv_ranges"]) + _saturation(tables)
    lines += _memory(tables["kv_memory"])
    lines += _sensitivity(tables) + _ablations(tables["ablations"]) + _skipped(tables["skipped"])
    lines += _images(tables["images"])
    path = out / "section.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _findings(findings: list[dict]) -> list[str]:
    lines = ["### Findings", ""]
    if not findings:
        return lines + [
            "No rule fired: no significant loss, no FP8 KV saturation above "
            f"{SATURATION_FRAC:.1%}, no concentrated layer sensitivity.",
            "",
        ]
    return lines + [f"- **{f['rule']}**: {f['text']}" for f in findings] + [""]


def _ranges(kv_ranges: list[dict]) -> list[str]:
    rows = visual_text_ratios(kv_ranges)
    if not rows:
        return []
    lines = [
        "### Visual vs text K/V range (BF16, max over heads)",
        "",
        "| layer | tensor | visual absmax | text absmax | visual / text |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['layer']} | {r['tensor']} | {r['visual_absmax']:.4g} | {r['text_absmax']:.4g} | {r['ratio']:.2f} |"
        for r in rows
    ]
    return lines + [""]


def _saturation(tables: dict) -> list[str]:
    rows = tables["saturation"]
    if not rows:
        return []
    lines = [
        "### FP8 KV cache under each recipe's scales",
        "",
        "| recipe | max saturated (text) | max saturated (visual) | max saturated (generated) | min SQNR dB |",
        "|---|---|---|---|---|",
    ]
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        s = saturation_summary(rows, recipe)
        cells = [f"{s['by_token_type'].get(t, 0.0):.3%}" for t in ("text", "visual", "generated")]
        lines.append(f"| `{recipe}` | {' | '.join(cells)} | {s['min_sqnr_db']:.1f} |")
    return lines + [""]


def _memory(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    lines = ["### KV-cache bytes", "", "| model | batch x context | KV | bytes | vs BF16 |", "|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio_to_bf16']:.3f}" if r.get("ratio_to_bf16") is not None else "–"
        lines.append(f"| {r['model']} | {r['batch']} x {r['context']} | {r['kv']} | {r['bytes']:,} | {ratio} |")
    return lines + [
        "",
        "Preset rows are sized from the engine's cache allocation on the meta device "
        "(entries plus per-position FP32 scales), not measured on a GPU.",
        "",
    ]


def _sensitivity(tables: dict) -> list[str]:
    rows = [r for r in tables["sensitivity"] if r["mode"] == "quantize_only" and r["layer"] != ""]
    if not rows:
        return []
    lines = [
        "### Layer sensitivity (KL of next-token distributions vs BF16, one layer quantized)",
        "",
        "| recipe | rank | layer | mean KL |",
        "|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["recipe"], r["rank"])):
        if r["rank"] <= TOP_SENSITIVE:
            lines.append(f"| `{r['recipe']}` | {r['rank']} | {r['layer']} | {r['kl_mean']:.4g} |")
    recommended = {f["evidence"]["name"] for f in tables["findings"] if f["rule"] == "mixed_precision"}
    for p in tables["proposals"]:
        verdict = (
            "recommended: run it like any recipe, `vlmq run --recipes " + p["name"] + " ...`"
            if p["name"] in recommended
            else "not recommended: it does not cut the KL enough"
        )
        lines += [
            "",
            f"Mixed-precision candidate `{p['name']}`: KL {p['kl_full']:.4g} -> {p['kl_mixed']:.4g}; {verdict}.",
        ]
    return lines + [""]


def _ablations(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    lines = [
        "### Ablations (paired, same samples)",
        "",
        "| recipe | without | task | metric | delta [95% CI] | p |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ci = "–" if r["ci_low"] is None else f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]"
        p = "–" if r["p_value"] is None else f"{r['p_value']:.3g}"
        delta = "–" if r["delta"] is None else f"{r['delta']:+.4g}"
        lines.append(f"| `{r['recipe']}` | `{r['without']}` | {r['task']} | {r['metric']} | {delta} {ci} | {p} |")
    return lines + [""]


def _images(images: dict[str, str]) -> list[str]:
    titles = {
        "kv_saturation": "FP8 KV saturation by layer and token type",
        "k_absmax": "|K| max by layer and head",
        "v_absmax": "|V| max by layer and head",
        "sensitivity": "Layer sensitivity",
        "activation_outliers": "Linear-input channel outliers",
    }
    return [f"![{titles[k]}]({path})" for k, path in images.items()] + [""]


def _skipped(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    return ["### Not measured", ""] + [f"- `{r['recipe']}` ({r['probe']}): {r['reason']}" for r in rows] + [""]
