"""``$VLMQ_L2_PREFETCH``: which GEMV prefetches a later one's weights into L2, how much, and where in its programs.

The setting and the plan are checked here on any machine; the instruction itself (``cp.async.bulk.prefetch.L2``,
SASS ``UBLKPF``) where Triton can compile for sm_90 offline; on the GPU, that greedy answers do not change
(tests/recipes/test_gpu_engines.py)."""

import os
import pathlib
import sys

import pytest
import torch

from vlmq.engine.kernels import l2_prefetch
from vlmq.engine.kernels.l2_prefetch import (
    PF_END,
    PF_START,
    PIECE_BYTES,
    PREFETCH_ENV,
    prefetch_kernel_args,
    prefetch_plan,
    prefetch_setting,
)
from vlmq.errors import VlmqError

MB = 1 << 20


@pytest.mark.parametrize("value", [None, "", "off"])
def test_prefetch_is_off_unless_set(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(PREFETCH_ENV, raising=False)
    else:
        monkeypatch.setenv(PREFETCH_ENV, value)
    assert prefetch_setting() is None
    monkeypatch.setattr(l2_prefetch, "prefetch_capable", lambda device: True)
    assert prefetch_plan([torch.zeros(MB)], "qkv", 100, 128, torch.device("cpu")) is None


def test_prefetch_setting_reads_issuer_and_megabytes(monkeypatch):
    monkeypatch.setenv(PREFETCH_ENV, "qkv:32")
    assert prefetch_setting() == ("qkv", 32 * MB)
    monkeypatch.setenv(PREFETCH_ENV, "o:0.5")
    assert prefetch_setting() == ("o", MB // 2)


@pytest.mark.parametrize("value", ["qkv", "gate_up:8", "qkv:0", "qkv:-4", "qkv:lots", ":8"])
def test_bad_prefetch_setting_is_one_line_naming_the_fix(monkeypatch, value):
    monkeypatch.setenv(PREFETCH_ENV, value)
    with pytest.raises(VlmqError, match=r"use off, or <issuer>:<MB> with issuer one of qkv, o \(e.g. qkv:32\)") as err:
        prefetch_setting()
    assert "\n" not in str(err.value)


def test_plan_takes_targets_in_order_up_to_the_budget(monkeypatch):
    """gate/up first, then down with what is left; sizes rounded down to 16 bytes; enough rounds that every piece
    has a thread (pieces dealt across programs x threads)."""
    monkeypatch.setattr(l2_prefetch, "prefetch_capable", lambda device: True)
    gate_up, down = torch.zeros(3 * MB, dtype=torch.uint8), torch.zeros(MB // 2, dtype=torch.bfloat16)
    monkeypatch.setenv(PREFETCH_ENV, "qkv:3.5")
    plan = prefetch_plan([gate_up, down], "qkv", 4, 32, torch.device("cpu"))
    assert plan.at == PF_END and [t.tensor for t in plan.targets] == [gate_up, down]
    assert [t.nbytes for t in plan.targets] == [3 * MB, MB // 2]
    pieces = [-(-t.nbytes // PIECE_BYTES) for t in plan.targets]
    assert [t.rounds for t in plan.targets] == [-(-p // (4 * 32)) for p in pieces]
    assert all(t.rounds * 4 * 32 * PIECE_BYTES >= t.nbytes for t in plan.targets)

    monkeypatch.setenv(PREFETCH_ENV, "o:1.0001")  # less than gate/up: down gets nothing
    plan = prefetch_plan([gate_up, down], "o", 4, 32, torch.device("cpu"))
    assert plan.at == PF_START and len(plan.targets) == 1 and plan.targets[0].nbytes == int(1.0001 * MB) // 16 * 16
    assert prefetch_plan([gate_up, down], "qkv", 4, 32, torch.device("cpu")) is None  # another projection issues


def test_plan_skips_what_the_instruction_cannot_take(monkeypatch):
    """Non-contiguous or misaligned tensors are skipped (bulk copies need 16-byte aligned addresses), and nothing is
    planned off Hopper (the real check, without the monkeypatch, on this machine)."""
    monkeypatch.setenv(PREFETCH_ENV, "qkv:64")
    base = torch.zeros(4096, dtype=torch.uint8)
    assert prefetch_plan([base], "qkv", 4, 32, torch.device("cpu")) is None
    monkeypatch.setattr(l2_prefetch, "prefetch_capable", lambda device: True)
    assert prefetch_plan([base[1:], torch.zeros(64, 64).t()], "qkv", 4, 32, torch.device("cpu")) is None
    plan = prefetch_plan([base[1:], base[16:]], "qkv", 4, 32, torch.device("cpu"))
    assert len(plan.targets) == 1 and plan.targets[0].nbytes == 4080


def test_kernel_args_fill_unused_targets_with_nothing():
    dummy = torch.zeros(4)
    args, meta = prefetch_kernel_args(None, dummy)
    assert args == (dummy, 0, dummy, 0) and meta == {"PF_AT": 0, "PF_R0": 0, "PF_R1": 0}
    one = l2_prefetch.PrefetchPlan(PF_START, (l2_prefetch.PrefetchTarget(torch.ones(8), 32, 1),))
    args, meta = prefetch_kernel_args(one, dummy)
    assert args[1:] == (32, dummy, 0) and meta == {"PF_AT": PF_START, "PF_R0": 1, "PF_R1": 0}


@pytest.mark.parametrize("issuer", ["qkv", "o"])
def test_gemv_issues_bulk_prefetches_where_the_setting_says(monkeypatch, issuer):
    """Compiled for sm_90 (no GPU needed): the GEMV the setting names holds the bulk prefetches (PTX
    ``cp.async.bulk.prefetch.L2``, SASS ``UBLKPF``) -- q/k/v's after its trigger (after its sums), o_proj's before
    its PDL wait (as it starts) -- and a GEMV of another projection holds none."""
    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("compiles real kernels")
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from kernel_sass import Recorder, compile_for_h200
    from vlmq.engine.kernels import pdl
    from vlmq.engine.kernels.gemv import gemv

    monkeypatch.setattr(pdl, "pdl_capable", lambda device: True)
    monkeypatch.setattr(l2_prefetch, "prefetch_capable", lambda device: True)
    monkeypatch.setenv("VLMQ_PDL_TRIGGER", "late")
    monkeypatch.setenv(PREFETCH_ENV, f"{issuer}:4")
    recorder = Recorder(gemv_triton.gemv_kernel)
    monkeypatch.setattr(gemv_triton, "gemv_kernel", recorder)
    x, g = torch.randn(1, 1536).bfloat16(), torch.rand(1536).bfloat16()
    mlp = [torch.zeros(3 * MB, dtype=torch.uint8), torch.zeros(2 * MB, dtype=torch.uint8)]
    gemv(x, torch.randn(256, 1536).bfloat16(), norm_weight=g, prefetch=mlp)  # q/k/v
    gemv(x, torch.randn(1536, 1536).bfloat16(), residual=torch.randn(1, 1536).bfloat16(), prefetch=mlp)  # o
    for projection, (args, kwargs) in zip(("qkv", "o"), recorder.calls):
        assert kwargs["PF_AT"] == ((PF_END if issuer == "qkv" else PF_START) if projection == issuer else 0)
        ptx, sass = compile_for_h200(recorder.kernel, args, kwargs)
        prefetch = ptx.find("cp.async.bulk.prefetch.L2.global")
        assert (prefetch >= 0) == (projection == issuer) == ("UBLKPF.L2" in sass), projection  # predicated: @UP0 UBLKPF
        if projection == issuer:
            wait, launch = ptx.find("griddepcontrol.wait"), ptx.find("griddepcontrol.launch_dependents")
            assert 0 <= wait < launch, "the late trigger follows the wait: update the test"
            assert (prefetch < wait) if issuer == "o" else (prefetch > launch), issuer
            assert kwargs["PF_R0"] >= 1 and kwargs["PF_R1"] >= 1  # 4 MB: all of gate/up, 1 MB of down
