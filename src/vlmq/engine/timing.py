"""Stage timing inside one generation: CUDA events on a GPU, ``perf_counter`` on a CPU.

CUDA events are recorded on the stream without synchronising, so timing does not perturb the
pipeline; ``intervals()`` synchronises once at the end.
"""

from __future__ import annotations

import time

import torch


class Stopwatch:
    """Named marks in order; ``intervals()`` gives the milliseconds between consecutive marks."""

    def __init__(self, device: torch.device):
        self.cuda = torch.device(device).type == "cuda"
        self._marks: list[tuple[str, object]] = []

    def mark(self, name: str) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append((name, event))
        else:
            self._marks.append((name, time.perf_counter()))

    def elapsed_ms(self, start: str, end: str) -> float:
        marks = dict(self._marks)
        if self.cuda:
            marks[end].synchronize()
            return float(marks[start].elapsed_time(marks[end]))
        return (marks[end] - marks[start]) * 1e3
