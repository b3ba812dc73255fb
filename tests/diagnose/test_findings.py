"""Findings rules fire on hand-made measurements and stay silent below their thresholds."""

from vlmq.diagnose import kv_findings, outlier_findings, remedy_findings, sensitivity_findings, significant_losses


def _record(delta, p, ci, value=0.70, task="vqav2", recipe="fp8+kv_fp8_text"):
    return {
        "recipe": recipe,
        "task": task,
        "metric": "accuracy",
        "value": value,
        "delta": delta,
        "delta_ci_low": ci[0],
        "delta_ci_high": ci[1],
        "p_value": p,
        "paired_test": "paired_bootstrap",
    }


def _saturation(recipe, visual, text, layers=(0, 1, 2, 3)):
    return [
        {
            "recipe": recipe,
            "layer": layer,
            "tensor": "k",
            "token_type": kind,
            "saturated_frac": frac,
            "underflow_frac": 0.0,
            "sqnr_db": 8.0 if frac > 0.01 else 30.0,
        }
        for layer in layers
        for kind, frac in (("visual", visual if layer >= 2 else 0.0), ("text", text))
    ]


def test_a_significant_loss_fires_and_names_the_measured_cause():
    sat = _saturation("fp8+kv_fp8_text", visual=0.05, text=0.0)
    findings = significant_losses([_record(-0.088, 0.001, (-0.12, -0.05))], sat)
    assert [f["rule"] for f in findings] == ["significant_loss"]
    cause = findings[0]["evidence"]["cause"]
    assert cause["worst_token_type"] == "visual" and cause["layers"] == [2, 3]
    assert "visual tokens of layers 2,3" in findings[0]["text"]


def test_non_significant_or_tiny_or_positive_differences_stay_silent():
    records = [
        _record(-0.05, 0.20, (-0.11, 0.01)),  # p above alpha
        _record(-0.05, 0.01, (-0.09, 0.002)),  # CI touches zero
        _record(-0.001, 0.001, (-0.002, -0.0005)),  # under 1% of the baseline
        _record(0.04, 0.001, (0.02, 0.06)),  # a gain
        _record(None, None, (None, None)),
    ]  # baseline row
    assert significant_losses(records, []) == []


def test_saturation_rules_fire_only_when_visual_tokens_clip():
    bad = kv_findings(_saturation("fp8+kv_fp8_text", visual=0.05, text=0.0))
    assert {f["rule"] for f in bad} == {"kv_saturation", "kv_saturation_visual", "kv_low_sqnr"}
    assert "use separate visual scales" in next(f["text"] for f in bad if f["rule"] == "kv_saturation_visual")
    vis = kv_findings(_saturation("fp8+kv_fp8_vis", visual=0.05, text=0.0))
    assert "task-like images" in next(f["text"] for f in vis if f["rule"] == "kv_saturation_visual")
    assert kv_findings(_saturation("fp8+kv_fp8", visual=0.0, text=0.0)) == []
    even = kv_findings(_saturation("fp8+kv_fp8", visual=0.05, text=0.05))
    assert "kv_saturation_visual" not in {f["rule"] for f in even}


def test_a_remedy_is_reported_when_it_removes_the_saturation():
    rows = _saturation("fp8+kv_fp8_text", 0.05, 0.0) + _saturation("fp8+kv_fp8_vis", 0.0, 0.0)
    found = remedy_findings(rows, {"fp8+kv_fp8_text": ["fp8+kv_fp8_vis"]})
    assert [f["evidence"]["remedy"] for f in found] == ["fp8+kv_fp8_vis"]
    still = rows + _saturation("fp8+kv_fp8_head", 0.02, 0.0)
    assert len(remedy_findings(still, {"fp8+kv_fp8_text": ["fp8+kv_fp8_head"]})) == 0


def test_outlier_and_sensitivity_rules_use_their_thresholds():
    rows = [{"layer": 3, "module": "down_proj", "top_ratio": 80.0}, {"layer": 1, "module": "q_proj", "top_ratio": 3.0}]
    assert [f["evidence"]["worst"]["layer"] for f in outlier_findings(rows)] == [3]
    assert outlier_findings(rows[1:]) == []
    sens = [
        {"recipe": "int4_wo", "mode": "quantize_only", "layer": i, "kl_mean": kl}
        for i, kl in enumerate((0.002, 0.002, 0.05))
    ]
    assert [f["evidence"]["layer"] for f in sensitivity_findings(sens, [])] == [2]
    flat = [dict(r, kl_mean=0.002) for r in sens]
    assert sensitivity_findings(flat, []) == []
    proposal = {"recipe": "int4_wo", "name": "int4_wo+keep=2", "layers": [2], "kl_full": 0.054, "kl_mixed": 0.004}
    assert [f["rule"] for f in sensitivity_findings([], [proposal])] == ["mixed_precision"]
    assert sensitivity_findings([], [dict(proposal, kl_mixed=0.05)]) == []


def test_the_visual_range_rule_reads_the_bf16_ranges():
    from vlmq.diagnose.findings import range_findings

    def ranges(visual):
        return [
            {"layer": 0, "head": h, "tensor": "k", "token_type": kind, "absmax": value}
            for h in (0, 1)
            for kind, value in (("text", 2.0 + h), ("visual", visual + h))
        ]

    (found,) = range_findings(ranges(visual=9.0))
    assert found["rule"] == "visual_range_exceeds_text" and "3.33x" in found["text"]  # (9+1)/(2+1)
    assert range_findings(ranges(visual=2.5)) == []
