"""benchmarks/bench_speed.py's time budget: a device call has a hard limit, and a cut run must keep what it finished."""

import json
import os
import pathlib
import sys
import time

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


def test_a_stopped_runs_finished_recipes_are_merged(tmp_path, monkeypatch):
    """What export_stored leaves in the stopped run's folder is merged like a finished run's records."""
    record = {"model": "toy", "recipe": "bf16", "task": "speed", "metric": "decode_ms_per_token", "value": 1.5}

    def fake_run(args, model, recipes, tasks, run_dir, budget_s=None):
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
