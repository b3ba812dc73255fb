"""Findings: rules with thresholds applied to the measurements (never free text written by hand).

Each finding is a dict: rule, recipe, task, evidence (the numbers the rule read), threshold, text.
A rule that does not fire writes nothing, so a non-significant difference produces no finding.
"""

from __future__ import annotations

import math
from collections import defaultdict

ALPHA = 0.05  # paired-test significance level
MIN_RELATIVE_LOSS = 0.01  # a loss under 1% of the baseline value is not reported, however significant
SATURATION_FRAC = 1e-3  # more than 0.1% of K/V values clipped
CONCENTRATION = 10.0  # visual saturation at least this many times the text one
LOW_SQNR_DB = 20.0  # FP8 e4m3 round trip of a well-scaled tensor gives ~30 dB
OUTLIER_RATIO = 20.0  # top input channel vs the median channel (the SmoothQuant premise)
SENSITIVITY_CONCENTRATION = 2.0  # the most sensitive layer's KL vs the median layer's
VISUAL_RANGE_RATIO = 1.25  # visual |K|/|V| max over the text one: text-only scales then clip visual values
MIN_KL = 1e-3  # nats: below this the full recipe is indistinguishable from BF16, keep nothing
MIN_KL_CUT = 0.2  # a mixed recipe must remove at least 20% of the KL to be proposed


def significant_losses(records: list[dict], saturation: list[dict] = ()) -> list[dict]:
    """Rule ``significant_loss``: delta < 0, p < ALPHA, CI excludes 0, |delta| >= 1% of the baseline;
    names the measured KV saturation of that recipe as the candidate cause when there is one."""
    out = []
    for rec in records:
        delta, p = rec.get("delta"), rec.get("p_value")
        if delta is None or p is None or math.isnan(p) or delta >= 0 or p >= ALPHA:
            continue
        if rec.get("delta_ci_high") is not None and rec["delta_ci_high"] >= 0:
            continue
        base = (rec.get("value") or 0.0) - delta
        if base and abs(delta) < MIN_RELATIVE_LOSS * abs(base):
            continue
        cause = saturation_summary(saturation, rec["recipe"])
        text = (
            f"{rec['recipe']} loses {abs(delta):.4g} {rec['metric']} on {rec['task']} "
            f"(95% CI [{rec.get('delta_ci_low', float('nan')):.4g}, {rec.get('delta_ci_high', float('nan')):.4g}], "
            f"p={p:.3g}, {rec.get('paired_test', 'paired test')})"
        )
        if cause and cause["max_saturated_frac"] > SATURATION_FRAC:
            text += (
                f"; lines up with FP8 KV saturation in {cause['worst_token_type']} tokens of layers "
                f"{_span(cause['layers'])} (max {cause['max_saturated_frac']:.2%})"
            )
        out.append(
            _finding(
                "significant_loss",
                rec["recipe"],
                rec["task"],
                text,
                {
                    "metric": rec["metric"],
                    "delta": delta,
                    "p_value": p,
                    "ci": [rec.get("delta_ci_low"), rec.get("delta_ci_high")],
                    "cause": cause,
                },
                {"alpha": ALPHA, "min_relative_loss": MIN_RELATIVE_LOSS},
            )
        )
    return out


def saturation_summary(rows, recipe: str) -> dict | None:
    """Per token type: the largest saturated fraction and the layers above the threshold."""
    mine = [r for r in rows if r["recipe"] == recipe]
    if not mine:
        return None
    by_type = defaultdict(float)
    for r in mine:
        by_type[r["token_type"]] = max(by_type[r["token_type"]], r["saturated_frac"])
    worst = max(by_type, key=by_type.get)
    layers = sorted({r["layer"] for r in mine if r["token_type"] == worst and r["saturated_frac"] > SATURATION_FRAC})
    return {
        "max_saturated_frac": by_type[worst],
        "worst_token_type": worst,
        "layers": layers,
        "by_token_type": dict(by_type),
        "min_sqnr_db": min(r["sqnr_db"] for r in mine),
    }


def kv_findings(saturation: list[dict]) -> list[dict]:
    """Rules ``kv_saturation``, ``kv_saturation_visual`` (concentrated in visual tokens), ``kv_low_sqnr``."""
    out = []
    for recipe in dict.fromkeys(r["recipe"] for r in saturation):
        s = saturation_summary(saturation, recipe)
        if s["max_saturated_frac"] > SATURATION_FRAC:
            out.append(
                _finding(
                    "kv_saturation",
                    recipe,
                    "",
                    (
                        f"{recipe}: {s['max_saturated_frac']:.2%} of {s['worst_token_type']} K/V values clip at FP8's "
                        f"range (±448) under its scales, in layers {_span(s['layers'])}"
                    ),
                    s,
                    {"saturated_frac": SATURATION_FRAC},
                )
            )
        vis, text = s["by_token_type"].get("visual", 0.0), s["by_token_type"].get("text", 0.0)
        if vis > SATURATION_FRAC and vis >= CONCENTRATION * max(text, 1e-12):
            fix = (
                "the visual scales were calibrated on images unlike these: calibrate on task-like images"
                if "kv_fp8_vis" in recipe
                else "its scales do not cover visual K/V: use separate visual scales (kv_fp8_vis)"
            )
            out.append(
                _finding(
                    "kv_saturation_visual",
                    recipe,
                    "",
                    (
                        f"{recipe}: saturation is concentrated in visual tokens ({vis:.2%} vs {text:.2%} for text); "
                        f"{fix}"
                    ),
                    {"visual": vis, "text": text},
                    {"saturated_frac": SATURATION_FRAC, "ratio": CONCENTRATION},
                )
            )
        if s["min_sqnr_db"] < LOW_SQNR_DB:
            out.append(
                _finding(
                    "kv_low_sqnr",
                    recipe,
                    "",
                    (f"{recipe}: FP8 KV round trip SQNR falls to {s['min_sqnr_db']:.1f} dB (< {LOW_SQNR_DB:g} dB)"),
                    {"min_sqnr_db": s["min_sqnr_db"]},
                    {"sqnr_db": LOW_SQNR_DB},
                )
            )
    return out


def visual_text_ratios(kv_ranges: list[dict]) -> list[dict]:
    """Per layer and tensor: max |x| over heads for visual and for text tokens, and their ratio."""
    peak: dict[tuple, float] = defaultdict(float)
    for r in kv_ranges:
        key = (r["layer"], r["tensor"], r["token_type"])
        peak[key] = max(peak[key], r["absmax"])
    rows = []
    for layer, tensor in sorted({(r["layer"], r["tensor"]) for r in kv_ranges}):
        vis, text = peak.get((layer, tensor, "visual"), 0.0), peak.get((layer, tensor, "text"), 0.0)
        rows.append(
            {
                "layer": layer,
                "tensor": tensor,
                "visual_absmax": vis,
                "text_absmax": text,
                "ratio": vis / text if text > 0 else math.inf,
            }
        )
    return rows


def range_findings(kv_ranges: list[dict]) -> list[dict]:
    """Rule ``visual_range_exceeds_text``: the premise of the FP8-KV failure, measured on BF16."""
    hits = [r for r in visual_text_ratios(kv_ranges) if r["ratio"] >= VISUAL_RANGE_RATIO]
    if not hits:
        return []
    worst = max(hits, key=lambda r: r["ratio"])
    return [
        _finding(
            "visual_range_exceeds_text",
            "bf16",
            "",
            (
                f"visual K/V reach {worst['ratio']:.2f}x the text maximum ({worst['tensor'].upper()} of layer "
                f"{worst['layer']}; {len(hits)} layer/tensor pairs >= {VISUAL_RANGE_RATIO:g}x): "
                "scales calibrated on text "
                f"clip visual values"
            ),
            {"pairs": hits},
            {"ratio": VISUAL_RANGE_RATIO},
        )
    ]


def remedy_findings(saturation: list[dict], remedies: dict[str, list[str]]) -> list[dict]:
    """Rule ``kv_remedy``: a remedy variant that removes the saturation of the recipe it replaces."""
    out = []
    for recipe, variants in remedies.items():
        before = saturation_summary(saturation, recipe)
        if before is None or before["max_saturated_frac"] <= SATURATION_FRAC:
            continue
        for variant in variants:
            after = saturation_summary(saturation, variant)
            if after is not None and after["max_saturated_frac"] <= SATURATION_FRAC:
                out.append(
                    _finding(
                        "kv_remedy",
                        recipe,
                        "",
                        (
                            f"{variant} instead of {recipe}: saturated fraction {before['max_saturated_frac']:.2%} -> "
                            f"{after['max_saturated_frac']:.2%}, min SQNR {before['min_sqnr_db']:.1f} -> "
                            f"{after['min_sqnr_db']:.1f} dB, same FP8 cache bytes"
                        ),
                        {"remedy": variant, "before": before, "after": after},
                        {"saturated_frac": SATURATION_FRAC},
                    )
                )
    return out


def outlier_findings(rows: list[dict]) -> list[dict]:
    """Rule ``activation_outliers``: linears whose top input channel exceeds OUTLIER_RATIO x the median."""
    hits = [r for r in rows if r["top_ratio"] >= OUTLIER_RATIO]
    if not hits:
        return []
    worst = max(hits, key=lambda r: r["top_ratio"])
    layers = sorted({r["layer"] for r in hits})
    return [
        _finding(
            "activation_outliers",
            "bf16",
            "",
            (
                f"{len(hits)} decoder linears (layers {_span(layers)}) have an input channel >= {OUTLIER_RATIO:g}x the "
                f"median channel (worst {worst['module']} of layer {worst['layer']}: {worst['top_ratio']:.0f}x): "
                f"per-tensor activation quantization loses them, SmoothQuant-style migration applies"
            ),
            {"linears": len(hits), "worst": worst},
            {"top_ratio": OUTLIER_RATIO},
        )
    ]


def sensitivity_findings(rows: list[dict], proposals: list[dict]) -> list[dict]:
    """Rules ``sensitive_layers`` (KL concentrated in few layers) and ``mixed_precision`` (the proposal)."""
    out = []
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        layer_rows = [r for r in rows if r["recipe"] == recipe and r["mode"] == "quantize_only" and r["layer"] != ""]
        if len(layer_rows) < 2:
            continue
        kls = sorted(r["kl_mean"] for r in layer_rows)
        median, top = kls[(len(kls) - 1) // 2], max(layer_rows, key=lambda r: r["kl_mean"])
        if top["kl_mean"] >= MIN_KL and top["kl_mean"] > SENSITIVITY_CONCENTRATION * max(median, 1e-12):
            out.append(
                _finding(
                    "sensitive_layers",
                    recipe,
                    "",
                    (
                        f"{recipe}: layer {top['layer']} alone causes KL {top['kl_mean']:.3g} vs a median layer's "
                        f"{median:.3g} ({top['kl_mean'] / max(median, 1e-12):.1f}x)"
                    ),
                    {"layer": top["layer"], "kl": top["kl_mean"], "median_kl": median},
                    {"ratio": SENSITIVITY_CONCENTRATION},
                )
            )
    for p in proposals:
        if p["kl_full"] >= MIN_KL and p["kl_mixed"] <= (1 - MIN_KL_CUT) * p["kl_full"]:
            out.append(
                _finding(
                    "mixed_precision",
                    p["recipe"],
                    "",
                    (
                        f"try {p['name']}: keeping layers {_span(p['layers'])} in BF16 cuts the KL vs BF16 from "
                        f"{p['kl_full']:.3g} to {p['kl_mixed']:.3g}"
                    ),
                    p,
                    {"min_kl": MIN_KL, "min_cut": MIN_KL_CUT},
                )
            )
    return out


def _finding(rule, recipe, task, text, evidence, threshold) -> dict:
    return {"rule": rule, "recipe": recipe, "task": task, "evidence": evidence, "threshold": threshold, "text": text}


def _span(layers) -> str:
    layers = sorted(layers)
    if not layers:
        return "-"
    if layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 2:
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(map(str, layers))
