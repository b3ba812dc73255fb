"""CUDA graphs for the parts of time-to-first-token that are launch-bound: the vision tower and prefill.

Why: on the H100 the HF vision tower (32 blocks, 1024 patches for a 448x448 image) took 25-44 ms eagerly
and the per-layer compiled prefill 12 ms, while their kernels need a few ms (docs/benchmarks.md): the
time went to launching ~1000 small kernels from Python. A graph is captured per input geometry (image
grid, prompt length) on the geometry's *second* sighting — a geometry seen once (most accuracy
prompts) never pays a capture — and kept in a small LRU; every graph has its own memory pool, so
replaying one never overwrites another's output.

A capture that fails (an op that synchronises, a model variant this path does not cover) is recorded
in ``note`` and the function runs without graphs from then on; results are the same either way.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable

import torch


def capture_graph(fn: Callable[[], Any]) -> tuple[torch.cuda.CUDAGraph, Any]:
    """(graph, output) of one call of ``fn`` captured in a CUDA graph (its own memory pool) after a warm-up call on a
    side stream, so compiling, autotuning and allocating happen outside the capture."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = fn()
    return graph, output


class _Captured:
    def __init__(self, fn: Callable, inputs: tuple[torch.Tensor, ...]):
        self.fn = fn  # the graph reads whatever fn closes over (e.g. rotary tables): keep it alive
        self.inputs = tuple(t.clone() for t in inputs)
        self.graph, self.output = capture_graph(lambda: fn(*self.inputs))

    def __call__(self, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        for static, new in zip(self.inputs, inputs):
            static.copy_(new)
        self.graph.replay()
        return self.output


class ShapeGraphs:
    """Replays ``fn(*inputs)`` from a CUDA graph per key (the inputs' geometry); see the module doc."""

    def __init__(self, name: str, max_graphs: int = 4):
        self.name = name
        self.max_graphs = max_graphs
        self.graphs: OrderedDict[Hashable, _Captured] = OrderedDict()
        self.seen: set[Hashable] = set()
        self.note = "cuda-graph"

    def clear(self) -> None:
        self.graphs.clear()
        self.seen.clear()

    def __call__(
        self,
        key: Hashable,
        fn: Callable,
        inputs: tuple[torch.Tensor, ...],
        check: Callable[[torch.Tensor], str | None] | None = None,
        fallback: Callable | None = None,
    ) -> torch.Tensor:
        """``fn(*inputs)``, from a graph when ``key`` was seen before. ``check(output)`` vets a new capture
        (returns why it is wrong, or None); after a failed one ``fallback(*inputs)`` (default ``fn``) runs."""
        captured = self.graphs.get(key)
        if captured is not None:
            self.graphs.move_to_end(key)
            return captured(inputs)
        if self.note != "cuda-graph" or key not in self.seen:
            self.seen.add(key)
            return fn(*inputs)
        try:
            captured = _Captured(fn, inputs)
            output = captured(inputs)
            problem = check(output) if check is not None else None
        except Exception as err:  # noqa: BLE001 - recorded; the function keeps running without graphs
            problem = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        if problem is not None:
            self.note = f"no graph ({problem})"
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return (fallback or fn)(*inputs)
        self.graphs[key] = captured
        while len(self.graphs) > self.max_graphs:
            self.graphs.popitem(last=False)
        return output


class VisionGraphs:
    """The Qwen2-VL vision tower (patch embedding, blocks, merger) replayed from a CUDA graph per image grid.

    The first eager call of a grid records the keyword arguments HF's forward passes its blocks (rotary
    tables, ``cu_seqlens`` moved to the CPU: HF's SDPA path splits the sequence by ``cu_seqlens.tolist()``,
    a device sync that cannot be captured). The graph replays ``vlmq.engine.vision.FusedVisionTower``
    (compiled blocks, one SDPA call per image; ``fused=False``: HF's own blocks, the earlier path). If the
    fused forward fails it is dropped for HF's blocks, recorded in ``body_note``. Qwen2.5-VL (window
    attention reorders patches between the blocks) and flash-attention models run eagerly.
    """

    def __init__(self, model, eager: Callable, max_recorded: int = 16, fused: bool = True):
        from vlmq.engine.vision import FusedVisionTower
        from vlmq.models.layout import vision_tower

        self.tower = vision_tower(model)
        self.eager = eager  # (pixel_values, grid_thw) -> merged features, HF's path
        self.graphs = ShapeGraphs("vision")
        # recorded block arguments (rotary tables on the GPU) of recent grids only: an accuracy run sees
        # thousands of image sizes; a captured graph keeps its own through its function
        self.block_args: OrderedDict[Hashable, tuple[tuple, dict]] = OrderedDict()
        self.max_recorded = max_recorded
        on_gpu = next(self.tower.parameters()).device.type == "cuda"
        self.fused = FusedVisionTower(self.tower, compile=on_gpu) if fused else None
        self.body_note = "fused" if fused else "hf-blocks"
        model_type = getattr(self.tower.config, "model_type", "")
        attn = getattr(self.tower.config, "_attn_implementation", "sdpa")
        if "2_5" in model_type or "flash" in str(attn):
            self.graphs.note = f"eager ({model_type}, attention {attn}: not graphed)"

    @property
    def note(self) -> str:
        return self.graphs.note

    def __call__(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
        key = (tuple(pixel_values.shape), tuple(tuple(int(v) for v in row) for row in grid_thw.tolist()))
        if self.graphs.note != "cuda-graph":
            return self.eager(pixel_values, grid_thw)
        if key not in self.block_args and key not in self.graphs.graphs:
            return self._eager_recording(key, pixel_values, grid_thw)

        def check(out: torch.Tensor) -> str | None:
            reference = self.eager(pixel_values, grid_thw)
            if out.shape != reference.shape:
                return f"shape {tuple(out.shape)} != {tuple(reference.shape)}"
            err = ((out.float() - reference.float()).norm() / reference.float().norm().clamp_min(1e-6)).item()
            return None if err < 2e-2 else f"graph output differs from eager (rel err {err:.3g})"

        args, kwargs = self.block_args.get(key, ((), {}))  # unused when the graph of this grid replays
        fn = lambda pixels: self.tower_body(pixels, args, kwargs)  # noqa: E731
        return self.graphs(
            key, fn, (pixel_values.to(self.tower.dtype),), check, fallback=lambda _: self.eager(pixel_values, grid_thw)
        )

    def tower_body(self, pixels: torch.Tensor, args: tuple, kwargs: dict) -> torch.Tensor:
        from vlmq.engine.vision import FusedVisionTower

        if self.fused is not None and not args and FusedVisionTower.covers(kwargs):
            try:
                return self.fused(pixels, kwargs)
            except Exception as err:  # noqa: BLE001 - recorded; HF's blocks compute the same features
                if pixels.is_cuda and torch.cuda.is_current_stream_capturing():
                    raise
                self.fused = None
                self.body_note = f"hf-blocks (fused failed: {type(err).__name__}: {str(err).splitlines()[0][:160]})"
        h = self.tower.patch_embed(pixels)
        for block in self.tower.blocks:
            h = block(h, *args, **kwargs)
        return self.tower.merger(h)

    def _eager_recording(self, key, pixel_values, grid_thw) -> torch.Tensor:
        from vlmq.engine.vision import record_block_kwargs

        out, recorded = record_block_kwargs(self.tower, self.eager, pixel_values, grid_thw)
        if recorded is not None:
            self.block_args[key] = recorded
            while len(self.block_args) > self.max_recorded:
                self.block_args.popitem(last=False)
            self.graphs.seen.add(key)  # the next call of this grid captures
        return out
