"""benchmarks/ncu_gemv.py: the cases it reads, and a machine without a GPU."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import ncu_gemv  # noqa: E402


def test_a_case_names_a_sweep_group():
    assert ncu_gemv.parse_case("7b:gate_up:int4-g128") == ("7b", "gate_up", 37888, 3584, 1, "int4-g128")


@pytest.mark.parametrize("case", ["7b:gate:int4-g128", "9b:o:bf16", "2b:o:int3", "2b:o"])
def test_a_bad_case_is_one_line_naming_the_form_and_the_known_values(case):
    with pytest.raises(SystemExit) as err:
        ncu_gemv.parse_case(case)
    message = str(err.value)
    assert "\n" not in message and "preset:shape:mode" in message and "int4-g128" in message


def test_without_cuda_it_says_what_it_needs(monkeypatch, capsys):
    monkeypatch.setattr(ncu_gemv.torch.cuda, "is_available", lambda: False)
    assert ncu_gemv.main(["2b:o:bf16"]) == 2
    assert "no CUDA device" in capsys.readouterr().out
