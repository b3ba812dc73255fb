"""The CUDA-graph cache's policy (capture on the second sighting, LRU, failure → recorded fallback), on a
CPU: the capture itself is replaced by a fake; the real capture is checked on the GPU (tests marked gpu)."""

import pytest
import torch

from vlmq.engine import graphs


class FakeCapture:
    made = []

    def __init__(self, fn, inputs):
        if getattr(fn, "fail", False):
            raise RuntimeError("operation not permitted when stream is capturing")
        self.fn = fn
        FakeCapture.made.append(self)

    def __call__(self, inputs):
        return ("replayed", self.fn(*inputs))


@pytest.fixture(autouse=True)
def fake_capture(monkeypatch):
    FakeCapture.made = []
    monkeypatch.setattr(graphs, "_Captured", FakeCapture)


def double(x):
    return x * 2


def test_capture_on_second_sighting_then_replay():
    cache = graphs.ShapeGraphs("t")
    x = torch.ones(2)
    assert torch.equal(cache("a", double, (x,)), x * 2)  # first sighting: plain call
    assert not FakeCapture.made
    second = cache("a", double, (x,))
    assert second[0] == "replayed" and len(FakeCapture.made) == 1
    cache("a", double, (x,))
    assert len(FakeCapture.made) == 1  # replayed, not captured again


def test_least_recently_used_graph_is_dropped():
    cache = graphs.ShapeGraphs("t", max_graphs=2)
    for key in ("a", "b", "c"):
        cache(key, double, (torch.ones(1),))
        cache(key, double, (torch.ones(1),))
    assert list(cache.graphs) == ["b", "c"]


def test_failed_capture_is_recorded_and_falls_back():
    def failing(x):
        return x + 1

    failing.fail = True
    cache = graphs.ShapeGraphs("t")
    x = torch.zeros(1)
    cache("a", failing, (x,))
    out = cache("a", failing, (x,), fallback=lambda t: t - 1)
    assert torch.equal(out, x - 1)
    assert cache.note.startswith("no graph (RuntimeError: operation not permitted")
    assert torch.equal(cache("b", failing, (x,)), x + 1) and not cache.graphs  # no more capture attempts


def test_a_capture_whose_output_fails_the_check_is_not_kept():
    cache = graphs.ShapeGraphs("t")
    x = torch.ones(1)
    cache("a", double, (x,))
    out = cache("a", double, (x,), check=lambda output: "differs", fallback=lambda t: t * 3)
    assert torch.equal(out, x * 3) and not cache.graphs and cache.note == "no graph (differs)"
