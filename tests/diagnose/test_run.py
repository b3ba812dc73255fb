"""The ablation runner and run_diagnosis end to end on the tiny model (small limits: seconds, not minutes)."""

import csv
import json

import pytest

from vlmq.diagnose import ablation_recipes, run_ablations, run_diagnosis
from vlmq.pipeline import ablation_deltas, ablation_pairs
from vlmq.spec import RunSpec
from vlmq.store import Store

RECIPE = "int8_wo+kv_fp8_text"
FILES = (
    "kv_ranges.csv",
    "saturation.csv",
    "activation_outliers.csv",
    "sensitivity.csv",
    "findings.jsonl",
    "kv_memory.csv",
    "ablations.csv",
    "kv_saturation.png",
    "k_absmax.png",
    "v_absmax.png",
    "sensitivity.png",
    "section.md",
)


def _spec(out, **kw):
    base = dict(model="tiny", recipes=(RECIPE,), tasks=("shapes-vqa",), limit=3, out=str(out), quiet=True, calib_n=4)
    return RunSpec(**{**base, **kw})


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory):
    """An ablation run, then the diagnosis of the same run directory (reads its results and store)."""
    out = tmp_path_factory.mktemp("diag")
    deltas = run_ablations(_spec(out))
    return out, deltas, run_diagnosis(_spec(out))


def test_ablation_pairs_drop_one_switch_at_a_time():
    assert ablation_pairs(["fp8+kv_fp8+fp8_attention"]) == [
        ("fp8+kv_fp8+fp8_attention", "fp8+fp8_attention", "kv_fp8"),
        ("fp8+kv_fp8+fp8_attention", "fp8+kv_fp8", "fp8_attention"),
    ]
    assert ablation_recipes(["fp8+kv_fp8"], "bf16") == ("bf16", "fp8+kv_fp8", "fp8")


def test_ablation_deltas_equal_the_difference_of_the_separately_scored_recipes(tmp_path):
    from vlmq.pipeline import task_options
    from vlmq.tasks import get_task

    spec = _spec(tmp_path, limit=8)
    task, opts = get_task("shapes-vqa"), task_options(spec)
    samples = task.load(opts)
    store = Store(tmp_path)
    for recipe, n_right in (("int8_wo", 6), (RECIPE, 2)):
        for i, sample in enumerate(samples):
            output = sample.target[0] if i < n_right else "zzz"
            scored = task.score(sample, output, opts)
            store.put_sample(
                {
                    "recipe": recipe,
                    "task": task.name,
                    "sample_id": sample.id,
                    "output": output,
                    "parsed": scored["parsed"],
                    "score": scored["score"],
                    "target": sample.target,
                    "meta": sample.meta,
                }
            )
    values = {r: task.aggregate(store.samples(r, task.name), opts)[0]["value"] for r in ("int8_wo", RECIPE)}
    (row,) = ablation_deltas(store, spec, ablation_pairs([RECIPE]))
    store.close()
    assert values[RECIPE] < values["int8_wo"]
    assert row["delta"] == pytest.approx(values[RECIPE] - values["int8_wo"])
    assert row["ci_low"] <= row["delta"] <= row["ci_high"] and 0 <= row["p_value"] <= 1


def test_run_ablations_runs_the_switchless_variant_and_pairs_it(diagnosed):
    out, deltas, _ = diagnosed
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    value = {(r["recipe"], r["task"], r["metric"]): r["value"] for r in records}
    assert {r["recipe"] for r in records} == {"bf16", RECIPE, "int8_wo"}
    (row,) = deltas
    assert (row["recipe"], row["without"], row["switch"]) == (RECIPE, "int8_wo", "kv_fp8_text")
    key = (row["task"], row["metric"])
    assert row["delta"] == pytest.approx(value[(RECIPE, *key)] - value[("int8_wo", *key)])


def _csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_run_diagnosis_writes_every_table_figure_and_the_section(diagnosed):
    out, _, folder = diagnosed
    assert folder == out / "diagnosis"
    for name in FILES:
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    sat = _csv(folder / "saturation.csv")
    assert {"token_type", "saturated_frac"} <= set(sat[0])
    assert {r["recipe"] for r in sat} == {RECIPE, "int8_wo+kv_fp8_vis", "int8_wo+kv_fp8_head"}
    assert {r["token_type"] for r in _csv(folder / "kv_ranges.csv")} == {"text", "visual", "generated"}
    sens = _csv(folder / "sensitivity.csv")
    assert {r["recipe"] for r in sens} == {"int8_wo"}
    assert {"quantize_only", "keep_bf16", "full"} <= {r["mode"] for r in sens}
    assert [r["switch"] for r in _csv(folder / "ablations.csv")] == ["kv_fp8_text"]
    memory = {r["kv"]: r for r in _csv(folder / "kv_memory.csv") if r["model"] == "tiny"}
    assert memory[RECIPE]["bytes"] == memory["int8_wo+kv_fp8_vis"]["bytes"]  # the remedy costs no memory
    head_dim = 16  # tiny: FP8 entries (1 byte) + one FP32 scale per position vs 2-byte BF16 entries
    assert float(memory[RECIPE]["ratio_to_bf16"]) == pytest.approx((head_dim + 4) / (2 * head_dim))
    section = (folder / "section.md").read_text()
    assert section.startswith("## Diagnosis") and "](diagnosis/kv_saturation.png)" in section
    for line in (folder / "findings.jsonl").read_text().splitlines():
        assert {"rule", "recipe", "task", "evidence", "text"} <= set(json.loads(line))
    assert Store(out).get_meta("diagnosis")["recipes"] == [RECIPE]


def test_the_report_includes_the_section(diagnosed):
    from vlmq.cli import main

    out, _, _ = diagnosed
    assert main(["report", str(out)]) == 0
    assert "## Diagnosis" in (out / "report.md").read_text()
