"""benchmarks/ncu_attention.py: the fused attention alone for Nsight Compute, on a machine without a GPU."""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import ncu_attention  # noqa: E402


def test_without_cuda_it_says_what_it_needs(monkeypatch, capsys):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(ncu_attention.torch.cuda, "is_available", lambda: False)
    assert ncu_attention.main(["--preset", "2b"]) == 2
    assert "no CUDA device" in capsys.readouterr().out


def test_it_runs_the_step_launch_through_the_interpreter(run_interpreted):
    """Every call launches the fused kernel on its own cache (the preset's heads, the step's context) and returns
    the heads' output: checked on the CPU through Triton's interpreter, a plan from the environment included."""
    run_interpreted(
        "import sys, os; sys.path.insert(0, {bench!r}); os.environ['VLMQ_ATTENTION_PLAN'] = 'splits=2'\n"
        "import io, contextlib, ncu_attention\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf): rc = ncu_attention.main(['--preset', '2b', '--calls', '1'])\n"
        "out = buf.getvalue()\n"
        "assert rc == 0 and '2 calls' in out and 'max_splits' in out and '(1, 12, 1, 128)' in out, out\n"
        "print('ok')"
    )


def test_a_bad_plan_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # past the device check, on the CPU
    monkeypatch.setenv("VLMQ_ATTENTION_PLAN", "warps=3")
    from vlmq.errors import VlmqError

    with pytest.raises(VlmqError, match="use comma-separated key=value"):
        ncu_attention.main([])


def test_no_calls_is_refused_in_one_line_naming_the_fix(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # past the device check, on the CPU
    with pytest.raises(SystemExit) as err:
        ncu_attention.main(["--calls", "0"])
    assert str(err.value) == "ncu_attention: --calls 0: give 1 or more"
