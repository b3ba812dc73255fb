"""bench_attention_trace.py's grouping and phases (pure functions, on synthetic records), the trace ring's reader,
and the setting's one-line error. The traced kernel's machine code: tests/engine/test_kernels_sass.py; its run on a GPU:
the benchmark itself (it needs one)."""

import pathlib
import sys

import pytest
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_attention_trace as trace  # noqa: E402


def record(start, wait, attend, arrive, end, split=0, combined=0, clock0=0):
    return {
        "t_start": start, "t_wait": wait, "t_attend": attend, "t_arrive": arrive, "t_end": end,
        "c_start": clock0, "c_wait": clock0 + 2 * (wait - start), "c_attend": clock0 + 2 * (attend - start),
        "c_arrive": 0, "c_end": 0, "bh": 0, "split": split, "splits": 3, "combined": combined,
        "t_loaded": wait + (attend - wait) // 3, "c_loaded": 0, "t_blocks": wait + 2 * (attend - wait) // 3,
        "c_blocks": 0,
    }  # fmt: skip


def launch_at(w, lead=2000, attend=1500, last_end=4000):
    """Three programs of one launch whose waits return at w, w + 100, w + 200 (one combines)."""
    return [
        record(w - lead, w, w + attend, w + attend + 300, w + attend + 300, split=0),
        record(w - lead + 50, w + 100, w + 100 + attend, w + attend + 500, w + attend + 500, split=1),
        record(w - lead + 90, w + 200, w + 200 + attend, w + attend + 700, w + last_end, split=2, combined=1),
    ]


def test_records_group_into_launches_by_their_wait_returns():
    records = launch_at(10_000) + launch_at(50_000) + launch_at(52_500)  # the third 2.5 us after the second
    groups = trace.launches(list(reversed(records)))
    assert [len(g) for g in groups] == [3, 3, 3]
    assert [min(r["t_wait"] for r in g) for g in groups] == [10_000, 50_000, 52_500]
    assert len(trace.launches(records, gap_ns=5_000)) == 2  # a wider gap merges launches 2.5 us apart


def test_phases_are_measured_from_the_first_wait_return():
    groups = [
        launch_at(w, lead=3000, attend=1200, last_end=5000) for w in (0, 40_000, 80_000, 120_000, 160_000, 200_000)
    ]
    out = trace.summarize_trace([r for g in groups for r in g])
    assert out["launches"] == 4  # the first and last dropped (a wrapped ring may hold part of one)
    assert out["programs"] == 3
    assert out["lead"]["median"] == 3000
    assert out["loaded"]["median"] == 1200 // 3
    assert out["blocks"]["median"] == 2 * 1200 // 3
    assert out["attend"]["median"] == 1200
    assert out["attend_cycles"]["median"] == 2 * 1200
    assert out["arrive"]["median"] == 1200 + 700
    assert out["end"]["median"] == 5000
    assert out["period"] == {"median": 40_000, "min": 40_000, "max": 40_000}  # the last launch has none


def test_markdown_names_the_device_and_each_phase():
    summary = trace.summarize_trace([r for w in (0, 40_000) for r in launch_at(w)])
    results = {"isolated": {"trace": summary}, "step": {"trace": summary, "ms_per_token": {"off": 1.274, "on": 1.281}}}
    text = trace.markdown(results, "NVIDIA H200")
    assert "NVIDIA H200" in text and "| phase | step | isolated |" in text
    assert "| end | 4000 (4000-4000) | 4000 (4000-4000) |" in text
    assert "trace off / on: 1.274 / 1.281" in text


def test_trace_ring_reads_oldest_first_and_resets():
    from vlmq.engine.kernels import attention

    device = torch.device("cpu")
    records, count = attention.attention_trace_buffers(device)
    try:
        n = attention.TRACE_RECORDS + 5  # wrapped: the first five slots hold the newest records
        for i in range(n):
            records[i % attention.TRACE_RECORDS, 0] = i
        count[0] = n
        out = attention.read_attention_trace(device)
        assert len(out) == attention.TRACE_RECORDS
        assert out[0]["t_start"] == 5 and out[-1]["t_start"] == n - 1
        assert set(out[0]) == set(attention.TRACE_FIELDS)
        assert attention.read_attention_trace(device) == []  # the read emptied the ring
        assert not records.any() and int(count.item()) == 0
    finally:
        attention._traces.pop(device, None)


@pytest.mark.parametrize("value, on", [("", False), ("0", False), ("1", True)])
def test_trace_setting(monkeypatch, value, on):
    from vlmq.engine.kernels.attention import attention_trace_setting

    monkeypatch.setenv("VLMQ_ATTENTION_TRACE", value)
    assert attention_trace_setting() is on


def test_trace_setting_refuses_other_values_in_one_line(monkeypatch):
    from vlmq.engine.kernels.attention import attention_trace_setting
    from vlmq.errors import VlmqError

    monkeypatch.setenv("VLMQ_ATTENTION_TRACE", "on")
    with pytest.raises(
        VlmqError, match=r"^VLMQ_ATTENTION_TRACE='on': use 1 \(trace the decode attention's programs\) or 0$"
    ):
        attention_trace_setting()


def test_trace_under_the_interpreter_is_refused_in_one_line(monkeypatch):
    """Triton's interpreter runs no PTX, so the trace's timer reads cannot run there: a one-line error, not a
    compile failure deep in Triton."""
    from vlmq.engine.kernels.attention import trace_args
    from vlmq.errors import VlmqError

    assert trace_args(torch.device("cpu"), False) == {}
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(VlmqError, match=r"^VLMQ_ATTENTION_TRACE=1 reads the GPU's timers, .*; unset it$"):
        trace_args(torch.device("cpu"), True)
