"""End-to-end runs on the tiny offline model: results, report, resume, fault isolation, bad input."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from vlmq.cli import main
from vlmq.spec import RunSpec
from vlmq.workflow import run

TASKS = ("shapes-vqa", "shapes-pope", "shapes-mme")


def tiny_spec(out, **kw):
    base = dict(model="tiny", recipes=("bf16", "int8_wo"), tasks=TASKS, limit=6, out=str(out), quiet=True)
    return RunSpec(**{**base, **kw})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run(tiny_spec(out))
    return out, result


def test_run_writes_records_and_report(finished_run):
    out, result = finished_run
    assert {r: o["status"] for r, o in result.outcomes.items()} == {"bf16": "ok", "int8_wo": "ok"}
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    keys = {(r["recipe"], r["task"], r["metric"]) for r in records}
    for recipe in ("bf16", "int8_wo"):
        assert (recipe, "shapes-vqa", "accuracy") in keys
        assert (recipe, "shapes-pope/random", "f1") in keys
        assert (recipe, "shapes-mme", "perception_total") in keys
    from vlmq.provenance import source_digest

    for rec in records:
        assert rec["kernel"] in ("real", "emulated") and rec["device"].startswith("cpu")
        assert rec["source_digest"] == source_digest()  # the code that ran, whatever git says
        if rec["value"] is not None and rec.get("ci_low") is not None:
            assert rec["ci_low"] <= rec["value"] <= rec["ci_high"]
    paired = [r for r in records if r["recipe"] == "int8_wo" and r["task"] == "shapes-vqa"]
    assert paired[0]["paired_test"] == "paired_bootstrap" and 0 <= paired[0]["p_value"] <= 1
    report = (out / "report.md").read_text()
    for heading in ("## Pareto", "## Recommendations", "## Provenance"):
        assert heading in report
    assert (out / "results.csv").read_text().startswith("recipe,task,metric,value")


def test_report_regenerates_from_the_store_alone(finished_run, tmp_path):
    out, _ = finished_run
    first = (out / "report.md").read_text()
    (out / "report.md").unlink()
    (out / "results.jsonl").unlink()
    assert main(["report", str(out), "--html"]) == 0
    assert (out / "report.md").read_text() == first
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_rerun_resumes_without_recomputing(finished_run, monkeypatch):
    out, _ = finished_run
    before = sqlite3.connect(out / "vlmq.sqlite").execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    def no_generation(*args, **kwargs):
        raise AssertionError("a finished sample was generated again")

    monkeypatch.setattr("vlmq.engine.Engine.generate", no_generation)
    result = run(tiny_spec(out))
    assert result.any_ok
    after = sqlite3.connect(out / "vlmq.sqlite").execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert after == before


def test_a_failing_recipe_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    import vlmq.pipeline.execute

    real_apply = vlmq.pipeline.execute.apply_recipe

    def flaky_apply(loaded, spec, calib):
        if spec.name == "int8_wo":
            raise RuntimeError("kernel exploded")
        return real_apply(loaded, spec, calib)

    monkeypatch.setattr(vlmq.pipeline.execute, "apply_recipe", flaky_apply)
    result = run(tiny_spec(tmp_path, tasks=("shapes-vqa",), limit=2))
    assert result.outcomes["bf16"]["status"] == "ok"
    assert result.outcomes["int8_wo"] == {
        **result.outcomes["int8_wo"],
        "status": "failed",
        "reason": "RuntimeError: kernel exploded",
    }
    assert "kernel exploded" in (tmp_path / "report.md").read_text()


def test_gpu_only_request_on_cpu_is_skipped_with_reason(tmp_path):
    result = run(tiny_spec(tmp_path, recipes=("bf16", "fp8+real"), tasks=("shapes-vqa",), limit=2))
    assert result.outcomes["fp8+real"]["status"] == "skipped"
    assert result.outcomes["fp8+real"]["reason"]


def test_nothing_succeeded_exits_non_zero(tmp_path, capsys):
    code = main(
        [
            "run",
            "--model",
            "tiny",
            "--recipes",
            "fp8+real",
            "--tasks",
            "shapes-vqa",
            "--limit",
            "2",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 1


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--recipes", "int3"], "unknown recipe 'int3'"),
        (["--recipes", "bf16+kv_fp9"], "unknown switch"),
        (["--tasks", "gqa"], "unknown task 'gqa'"),
        (["--model", "/nonexistent/model"], "/nonexistent/model"),
        (["--model", "someone/some-model"], "--model DIR"),
        (["--limit", "0"], "'limit' must be a positive integer"),
        (["--limit", "-2"], "'limit' must be a positive integer"),
        (["--spec", "/nonexistent.toml"], "spec file '/nonexistent.toml' not found"),
    ],
)
def test_bad_input_is_one_line_on_stderr(tmp_path, capsys, args, fragment):
    code = main(["run", "--out", str(tmp_path / "o"), "--quiet", "--tasks", "shapes-vqa", "--limit", "2", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("vlmq: error: ") and fragment in err
    assert "\n" not in err and "Traceback" not in err


def test_unsupported_model_family(tmp_path, capsys):
    folder = tmp_path / "llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    code = main(["run", "--model", str(folder), "--out", str(tmp_path / "o"), "--recipes", "bf16", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("vlmq: error: ") and "not supported" in err and "\n" not in err


def test_python_dash_m_vlmq_and_kill_then_resume(tmp_path):
    """SIGKILL a run mid-task, rerun it: the records equal an uninterrupted run's, with no duplicates."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = [
        "--model",
        "tiny",
        "--recipes",
        "bf16",
        "--tasks",
        "shapes-vqa",
        "--limit",
        "24",
        "--batch-size",
        "1",
        "--quiet",
    ]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmq", "run", *args, "--out", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    db = killed / "vlmq.sqlite"
    deadline = time.time() + 240
    while time.time() < deadline:
        if db.exists():
            try:
                if sqlite3.connect(db).execute("SELECT COUNT(*) FROM samples").fetchone()[0] >= 3:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = sqlite3.connect(db).execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert 3 <= partial < 24, "the run was not killed mid-task"
    done = subprocess.run(
        [sys.executable, "-m", "vlmq", "run", *args, "--out", str(killed)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    clean = tmp_path / "clean"
    assert main(["run", *args, "--out", str(clean)]) == 0

    def rows(path):
        return (
            sqlite3.connect(path / "vlmq.sqlite")
            .execute("SELECT recipe, task, sample_id, output, score FROM samples ORDER BY sample_id")
            .fetchall()
        )

    assert rows(killed) == rows(clean)
    # 24 answers and, under task "shapes-vqa#fidelity", the baseline's 24 fidelity references (#18)
    assert len(rows(killed)) == len({(r[1], r[2]) for r in rows(killed)}) == 48


def test_real_task_names_run_on_local_lmms_lab_data(tmp_path, capsys):
    """`vlmq run --tasks vqav2,pope,mme --dataset-dir DIR` on lmms-lab-format fixtures (no download); the
    summary says which sample failed and why."""
    from vlmq.tasks.fixtures import vqav2_table, write_dataset_dir

    data = write_dataset_dir(tmp_path / "data", "parquet", vqav2=vqav2_table(8, truncated=(3,)))
    code = main(
        [
            "run",
            "--model",
            "tiny",
            "--recipes",
            "bf16",
            "--tasks",
            "vqav2,pope,mme",
            "--limit",
            "8",
            "--dataset-dir",
            str(data),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "bf16 · vqav2: 1 failed of 8:" in printed and "WARNING: more than 5% failed" in printed
    records = [json.loads(line) for line in (tmp_path / "o" / "results.jsonl").read_text().splitlines()]
    keys = {(r["task"], r["metric"]) for r in records}
    assert {("vqav2", "accuracy"), ("pope", "f1"), ("pope/random", "f1"), ("mme", "perception_total")} <= keys
    vqa = next(r for r in records if r["task"] == "vqav2")
    assert vqa["n_failed"] == 1 and vqa["n"] == 7  # the truncated image is a failed sample, not a wrong answer
    assert all(r["ci_low"] is not None for r in records if r["task"] == "vqav2")
    failed = (
        sqlite3.connect(tmp_path / "o" / "vlmq.sqlite")
        .execute("SELECT error FROM samples WHERE task='vqav2' AND error IS NOT NULL")
        .fetchall()
    )
    assert len(failed) == 1 and failed[0][0]


def test_subprocess_launcher_isolates_each_recipe(tmp_path):
    result = run(tiny_spec(tmp_path, tasks=("shapes-vqa",), limit=2, launcher="subprocess"))
    assert {r: o["status"] for r, o in result.outcomes.items()} == {"bf16": "ok", "int8_wo": "ok"}
    rows = sqlite3.connect(tmp_path / "vlmq.sqlite").execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert rows == 8  # 2 answers per recipe, and per recipe 2 fidelity rows (#18: references, comparisons)


def test_calibration_language_ablation_runs_and_is_recorded(tmp_path):
    """int4_awq with English-only vs multilingual calibration: each corpus is recorded, the pair is ablated."""
    from vlmq.pipeline import ablation_deltas, ablation_pairs
    from vlmq.store import Store

    spec = tiny_spec(
        tmp_path,
        recipes=("bf16", "int4_awq+group=32", "int4_awq+group=32+calib=multi"),
        tasks=("shapes-vqa",),
        limit=4,
        calib_n=4,
    )
    result = run(spec)
    details = {r: o["details"] for r, o in result.outcomes.items()}
    assert details["int4_awq+group=32"]["calibration"]["languages"] == ["en"]
    assert len(details["int4_awq+group=32+calib=multi"]["calibration"]["languages"]) > 3
    store = Store(tmp_path)
    rows = ablation_deltas(store, spec, ablation_pairs(["int4_awq+group=32+calib=multi"]))
    assert {(r["without"], r["switch"]) for r in rows} == {("int4_awq+group=32", "calib=multi")}
    assert "## Ablations" in (tmp_path / "report.md").read_text()


def test_missing_dataset_is_one_line_for_the_whole_run(tmp_path, capsys):
    code = main(
        [
            "run",
            "--model",
            "tiny",
            "--recipes",
            "bf16,int8_wo",
            "--tasks",
            "vqav2",
            "--dataset-dir",
            str(tmp_path / "nothing-here"),
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("vlmq: error: ") and "\n" not in err


def test_export_best_writes_the_recommended_recipe(tmp_path):
    """`vlmq run --export-best`: the report's best recommendation that quantizes the model is exported as a
    compressed-tensors checkpoint next to the report (bf16, the baseline, has nothing to export)."""
    import json as _json

    from vlmq.report import recommended_recipes
    from vlmq.store import Store

    result = run(tiny_spec(tmp_path, recipes=("bf16", "int8_wo"), tasks=("shapes-vqa",), limit=4, export_best=True))
    assert result.any_ok
    store = Store(tmp_path, read_only=True)
    try:
        named = recommended_recipes(store, tiny_spec(tmp_path), result.records)
    finally:
        store.close()
    assert "int8_wo" in named
    config = _json.loads((tmp_path / "export" / "int8_wo" / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "compressed-tensors"
    assert any((tmp_path / "export" / "int8_wo").glob("*.md"))  # the model card
