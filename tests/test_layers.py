"""The package's shape: its layers (pyproject.toml, [tool.importlinter]: no upward import, no import cycle) and
ruff's lint and format rules (pyproject.toml, [tool.ruff])."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_module_imports_only_from_the_layers_below_it():
    """import-linter's layers contract covers function-level imports too, so a cycle hidden inside a
    function still breaks it."""
    lint = pathlib.Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout[-3000:]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = pathlib.Path(sys.executable).with_name("ruff")
    return subprocess.run([str(ruff), *args, "src", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True)


def test_ruff_lint_is_clean():
    done = _ruff("check")
    assert done.returncode == 0, done.stdout[-3000:]


def test_ruff_format_is_clean():
    done = _ruff("format", "--check")
    assert done.returncode == 0, done.stdout[-3000:]
