"""benchmarks/bench_speed.py's time budget: a device call has a hard limit, and a cut run must keep what it finished."""

import json
import os
import pathlib
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_speed  # noqa: E402


def test_a_run_past_the_budget_is_stopped_with_its_process_group(tmp_path, monkeypatch):
    """The toy's speed run cannot finish in 2 s (imports alone take longer): it is stopped, its subprocesses with
    it, and the stopped run's store is exported (here it holds nothing yet: the export reports that and the
    benchmark goes on)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    args = bench_speed.parse_args(["--out", str(tmp_path), "--batch-sizes", "1", "--repeats", "1"])
    start = time.monotonic()
    finished = bench_speed.vlmq_run(args, "toy", "bf16", "speed", tmp_path / "run_toy", budget_s=2.0)
    assert not finished
    assert time.monotonic() - start < 60  # stopped, not waited for
    assert not running_with(str(tmp_path / "run_toy"))


def running_with(text: str) -> list[str]:
    """Live processes whose command line names ``text`` (Linux /proc)."""
    found = []
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(cmdline.parent.name)
        except OSError:
            continue
    return found


def test_runs_after_the_budget_are_skipped_and_the_table_says_so(tmp_path, capsys):
    code = bench_speed.main(
        ["--out", str(tmp_path), "--models", "toy", "--recipes", "bf16", "--budget-s", "0", "--tasks", "speed"]
    )
    assert code == 0
    table = (tmp_path / "table.md").read_text()
    assert "not run (--budget-s): toy speed (bf16)" in table
    assert "not run (--budget-s): toy speed-long" in table
    assert (tmp_path / "results.jsonl").read_text() == ""
    assert not (tmp_path / "run_toy").exists()
    assert "0 met, 0 not met" in (tmp_path / "bars.md").read_text()  # nothing measured: every bar unmeasured


def test_a_stopped_runs_finished_recipes_are_merged(tmp_path, monkeypatch):
    """What export_stored leaves in the stopped run's folder is merged like a finished run's records."""
    record = {"model": "toy", "recipe": "bf16", "task": "speed", "metric": "decode_ms_per_token", "value": 1.5}

    def fake_run(args, model, recipes, tasks, run_dir, budget_s=None, src=None, gpu=None):
        run_dir.mkdir(parents=True)
        (run_dir / "results.jsonl").write_text(json.dumps(record) + "\n")
        return False  # as if the budget stopped it after its first recipe

    monkeypatch.setattr(bench_speed, "vlmq_run", fake_run)
    assert bench_speed.main(["--out", str(tmp_path), "--models", "toy", "--long-context-recipes", ""]) == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert rows == [record]
    table = (tmp_path / "table.md").read_text()
    assert "| toy | bf16 |" in table and "1.500" in table
    assert "stopped by --budget-s: toy speed,speed-profile (" in table


def test_runs_stop_early_enough_for_the_stopped_runs_export_to_fit_the_budget(tmp_path, monkeypatch):
    """A run's own budget ends WRAP_UP_S before --budget-s does: its stop and export then fit inside the call's."""
    budgets = []

    def fake_run(args, model, recipes, tasks, run_dir, budget_s=None, src=None, gpu=None):
        budgets.append(budget_s)
        return True

    monkeypatch.setattr(bench_speed, "vlmq_run", fake_run)
    assert bench_speed.main(["--out", str(tmp_path), "--models", "toy", "--budget-s", "100"]) == 0
    assert len(budgets) == 2 and all(b <= 100 - bench_speed.WRAP_UP_S for b in budgets), budgets
    assert budgets[0] > 100 - bench_speed.WRAP_UP_S - 5, budgets  # and no earlier than that
    skipped = bench_speed.main(["--out", str(tmp_path / "short"), "--models", "toy", "--budget-s", "20"])
    assert skipped == 0 and len(budgets) == 2  # a budget shorter than the wrap-up starts nothing
    assert "not run (--budget-s): toy speed" in (tmp_path / "short" / "table.md").read_text()


def test_base_src_runs_first_on_its_own_package_and_gives_a_before_after_table(tmp_path, monkeypatch):
    calls = []

    def fake_run(args, model, recipes, tasks, run_dir, budget_s=None, src=None, gpu=None):
        calls.append((run_dir.name, bench_speed.run_env(src).get("PYTHONPATH", "").split(os.pathsep)[0]))
        run_dir.mkdir(parents=True)
        value = 2.0 if src else 1.5
        rows = [
            {"model": "toy", "recipe": "bf16", "task": "speed", "metric": "decode_ms_per_token", "value": value},
            {"model": "toy", "recipe": "bf16", "task": "speed", "metric": "tokens_per_s", "value": 1 / value},
        ]
        (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return True

    monkeypatch.setattr(bench_speed, "vlmq_run", fake_run)
    old = tmp_path / "old" / "src"
    (old / "vlmq").mkdir(parents=True)
    (old / "vlmq" / "__init__.py").write_text("")
    argv = ["--out", str(tmp_path / "out"), "--models", "toy", "--long-context-recipes", "", "--base-src", str(old)]
    assert bench_speed.main(argv) == 0
    assert [name for name, _ in calls] == ["run_toy_base", "run_toy"]  # the base first, on the same machine
    assert calls[0][1] == str(old.resolve()) and calls[1][1] != str(old.resolve())
    out = tmp_path / "out"
    assert [json.loads(x)["value"] for x in (out / "results_base.jsonl").read_text().splitlines()] == [2.0, 0.5]
    assert [json.loads(x)["value"] for x in (out / "results.jsonl").read_text().splitlines()] == [1.5, 1 / 1.5]
    table = (out / "table.md").read_text()
    assert "| toy | bf16 | speed | decode_ms_per_token | 2.000 | 1.500 | 0.750 |" in table
    assert "tokens_per_s |" not in table.split("before (")[1]  # only the speed figures of AB_METRICS


def test_bad_options_are_refused_in_one_line(tmp_path, capsys):
    for argv, fix in (
        (["--base-src", str(tmp_path)], "holds no vlmq package: pass another checkout's src folder"),
        (["--budget-s", "-5"], "--budget-s must be >= 0 seconds"),
    ):
        with pytest.raises(SystemExit) as err:
            bench_speed.parse_args(["--out", str(tmp_path), *argv])
        assert err.value.code == 2
        message = capsys.readouterr().err.strip().splitlines()[-1]
        assert fix in message, message


def test_gpus_run_models_side_by_side_and_merge_in_planned_order(tmp_path, monkeypatch):
    placed = {}

    def fake_run(args, model, recipes, tasks, run_dir, budget_s=None, src=None, gpu=None):
        placed[run_dir.name] = bench_speed.run_env(src, gpu)["CUDA_VISIBLE_DEVICES"]
        if model == "a":
            time.sleep(0.2)  # the first model finishes last: the merge still lists it first
        run_dir.mkdir(parents=True)
        row = {"model": model, "recipe": "bf16", "task": tasks, "metric": "decode_ms_per_token", "value": 1.0}
        (run_dir / "results.jsonl").write_text(json.dumps(row) + "\n")
        return True

    monkeypatch.setattr(bench_speed, "vlmq_run", fake_run)
    argv = ["--out", str(tmp_path), "--models", "a,b,c", "--long-context-recipes", "bf16", "--gpus", "0,1"]
    assert bench_speed.main(argv) == 0
    assert placed == {"run_a": "0", "run_a_long": "0", "run_b": "1", "run_c": "0"}
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["model"], r["task"]) for r in rows] == [
        ("a", "speed,speed-profile"),
        ("a", "speed-long"),
        ("b", "speed,speed-profile"),
        ("c", "speed,speed-profile"),
    ]


def test_bad_gpus_are_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench_speed.parse_args(["--out", str(tmp_path), "--gpus", "0,x"])
    assert "--gpus takes GPU indices such as 0,1" in capsys.readouterr().err


def test_profiles_include_the_long_context_step_and_skip_what_is_not_a_profile(tmp_path):
    """profiles.md / profiles.json hold every kernel-profile record, the speed-long step's included (where the
    FP8-vs-BF16 KV time goes), and nothing else of the run."""
    top = [{"kernel": "decode_attention_kernel", "us_per_step": 1500.0, "calls_per_step": 28}]
    layer = {"layers": 28, "period": 1, "places": [{"place": 0, "kernel": "k", "us": 50.0, "min": 49.0, "max": 51.0}]}
    layer["outside"] = [["lm_head", 0.0, 120.0]]
    rows = [
        {
            "model": "m",
            "recipe": "bf16+kv_fp8",
            "task": "speed-long/ctx8192_bs16",
            "metric": "kernel_us_per_step",
            "value": 2700.0,
            "params": {"batch_size": 16, "top": top, "layer": layer},
        },
        {
            "model": "m",
            "recipe": "bf16+kv_fp8",
            "task": "speed-long/ctx8192_bs16",
            "metric": "decode_ms_per_token",
            "value": 2.8,
            "params": {},
        },
        {
            "model": "m",
            "recipe": "bf16",
            "task": "speed-profile",
            "metric": "not_measured",
            "value": None,
            "params": {},
        },
    ]
    bench_speed.write_profiles(rows, tmp_path)
    md = (tmp_path / "profiles.md").read_text()
    assert "### m bf16+kv_fp8 speed-long/ctx8192_bs16: 2700 µs" in md and "decode_attention_kernel | 1500.0 | 28" in md
    assert "28 layers x 1 kernels" in md and "decode_ms_per_token" not in md and "not_measured" not in md
    assert [r["metric"] for r in json.loads((tmp_path / "profiles.json").read_text())] == ["kernel_us_per_step"]
