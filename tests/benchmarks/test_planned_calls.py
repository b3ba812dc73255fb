"""The device calls prepared in benchmarks/planned/ name files that exist: a planned call runs on a lent GPU whose
time is scarce, and a wrong path costs a whole call (the twenty-sixth session's call 2 named
tests/engine/test_gpu_engines.py, which lives in tests/recipes/, and ran no test)."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLANNED = sorted((ROOT / "benchmarks" / "planned").glob("*.sh"))
# repository paths a call's command line names: tests, benchmark scripts, the sourced preamble
NAMED_PATH = re.compile(r"(?<![\w/$.])((?:tests|benchmarks|src)/[\w./-]+\.(?:py|sh|jsonl|json))(?![\w.])")


def named_paths(text: str) -> list[str]:
    return NAMED_PATH.findall(text)


def test_named_paths_are_found_in_a_command_line():
    line = "timeout 9 python3 -m pytest tests/recipes/test_gpu_engines.py -k x; . benchmarks/device_call.sh $R/a.json"
    assert named_paths(line) == ["tests/recipes/test_gpu_engines.py", "benchmarks/device_call.sh"]
    # a whole name, never a shorter one inside it (results.jsonl was read as results.json, which does not exist)
    line = "check_bars.py benchmarks/results/x/speed2b/results.jsonl benchmarks/bench_speed.py.bak"
    assert named_paths(line) == ["benchmarks/results/x/speed2b/results.jsonl"]


@pytest.mark.parametrize("script", PLANNED, ids=lambda p: p.name)
def test_a_planned_call_names_only_files_that_exist(script):
    missing = [path for path in named_paths(script.read_text()) if not (ROOT / path).exists()]
    assert not missing, f"{script.name} names {missing}: fix the path before the call spends device time"
