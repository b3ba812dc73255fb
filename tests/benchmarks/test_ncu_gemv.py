"""benchmarks/ncu_gemv.py: the cases it reads, and a machine without a GPU."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import ncu_gemv  # noqa: E402


def test_a_case_names_a_sweep_group():
    assert ncu_gemv.parse_case("7b:gate_up:int4-g128") == ("7b", "gate_up", 37888, 3584, 1, "int4-g128")
    assert ncu_gemv.parse_case("7b:down:int4-g128:16") == ("7b", "down", 3584, 18944, 16, "int4-g128")


@pytest.mark.parametrize(
    "case", ["7b:gate:int4-g128", "9b:o:bf16", "2b:o:int3", "2b:o", "2b:o:bf16:0", "2b:o:bf16:65", "2b:o:bf16:x"]
)
def test_a_bad_case_is_one_line_naming_the_form_and_the_known_values(case):
    with pytest.raises(SystemExit) as err:
        ncu_gemv.parse_case(case)
    message = str(err.value)
    assert "\n" not in message and "preset:shape:mode" in message and "int4-g128" in message


def test_without_cuda_it_says_what_it_needs(monkeypatch, capsys):
    monkeypatch.setattr(ncu_gemv.torch.cuda, "is_available", lambda: False)
    assert ncu_gemv.main(["2b:o:bf16"]) == 2
    assert "no CUDA device" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["1,2", "1,1,4,x", "1,1,4,1,two"])
def test_a_bad_mma_configuration_is_refused_in_one_line(monkeypatch, capsys, value):
    monkeypatch.setattr("vlmq.engine.kernels.gemv.w4_gemv_configs", dict)  # no library here: any form is built
    with pytest.raises(SystemExit):
        ncu_gemv.main(["7b:gate_up:int4-g128", "--mma", value])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--mma" in err and "row_blocks,warps,in_flight,post" in err and "K split" in err


def test_a_good_mma_configuration_gets_to_the_device_check(monkeypatch, capsys):
    monkeypatch.setattr("vlmq.engine.kernels.gemv.w4_gemv_configs", dict)
    monkeypatch.setattr(ncu_gemv.torch.cuda, "is_available", lambda: False)
    assert ncu_gemv.main(["7b:gate_up:int4-g128", "--mma", "1,4,2,1,2"]) == 2
