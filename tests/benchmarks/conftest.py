"""Fixtures of the benchmark scripts' tests."""

import os
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def run_interpreted():
    """Runs a benchmark's check script (a ``{bench}`` placeholder for the benchmarks folder) through Triton's
    interpreter in its own process -- the variable must be set before Triton is imported, and the rest of the suite
    compiles real kernels -- and asserts it printed "ok" (every assertion held)."""
    pytest.importorskip("triton")

    def run(check: str) -> None:
        env = dict(os.environ, TRITON_INTERPRET="1")
        code = check.format(bench=str(BENCHMARKS))
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]

    return run
