"""The compiled CUDA path: Inductor-compiled layers, and the whole decode step in one CUDA graph.

Design (gpt-fast's ideas, arranged for short compiles): one decoder layer is compiled (every layer
shares the graph — the layer's module is an input, not a constant), and the decode step — embedding,
M-RoPE, 28 compiled layers, final norm and lm_head — is captured into a ``torch.cuda.CUDAGraph`` per
batch size and replayed, so a token costs one graph launch. Compile time is one layer's, not 28
layers', which keeps the benchmark of every recipe inside a short GPU lease.

Every recipe, BF16 included, compiles under the same pinned Inductor settings (``INDUCTOR_OPTIONS``);
torchao's configs may flip global flags (``set_inductor_config``), the options passed here override
them per compile so no side is favoured.

Decode attends over the whole static cache with a mask (static shapes for the graph); slots beyond the
current length are masked. Warm-up and capture write to the cache's last slot, which is masked until a
real step overwrites it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch._dynamo

from vlmq.engine.decoder import (
    DenseAttention,
    StepInputs,
    emulated_fp8_attention,
    fused_decode_attention,
    layer_forward,
    layer_forward_open,
)
from vlmq.engine.graphs import ShapeGraphs, VisionGraphs
from vlmq.engine.projections import build_projections
from vlmq.engine.types import GENERATED
from vlmq.engine.vision import image_features

INDUCTOR_OPTIONS = {
    "coordinate_descent_tuning": False,                  # same for every recipe (torchao's setter turns it on)
    "coordinate_descent_check_all_directions": False,
    "force_fuse_int_mm_with_mul": True,
    "triton.unique_kernel_names": True,
    "epilogue_fusion": True,
    "max_autotune": False,
    "triton.cudagraphs": False,                          # vlmq captures the whole step itself
}


# prompts up to this many tokens (batch x length) prefill from a CUDA graph once their shape repeats
PREFILL_GRAPH_TOKENS = 8192


def _decode_layer(layer, proj, pack, x, pending, *args):
    """``pending`` is the previous layer's MLP output (None for the first layer): adding it here puts the
    residual add and this layer's RMSNorm into one kernel."""
    if pending is not None:
        x = x + pending
    return layer_forward_open(layer, proj, pack, x, *args)


def _prefill_layer(*args):
    return layer_forward(*args)


def _head(norm, lm_head, x, pending):
    """Last residual add + final norm + lm_head; module-level with the modules as inputs, so compiled code
    holds no closure over one model (a lambda per engine kept every earlier model alive in dynamo's cache)."""
    return lm_head(norm(x + pending))


def _compile(fn):
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    return torch.compile(fn, fullgraph=True, options=dict(INDUCTOR_OPTIONS))


@dataclass
class StaticDecodeInputs:
    token: torch.Tensor        # [B] long
    pos: torch.Tensor          # [B] long
    slot: torch.Tensor         # [1] long
    key_valid: torch.Tensor    # [B, L] bool
    token_type: torch.Tensor   # [B, 1] long (generated)


@dataclass
class CapturedStep:
    graph: torch.cuda.CUDAGraph
    inputs: StaticDecodeInputs
    logits: torch.Tensor


class CompiledRunner:
    def __init__(self, engine):
        self.engine = engine
        d = engine.decoder
        self.projections, self.packs, self.label = build_projections(
            d.layers, d.shape.num_heads, d.shape.num_kv_heads, d.shape.head_dim, bf16_kernel=engine.bf16_kernel)
        # decode reads the cache in a Triton kernel (FP8 without a BF16 copy); the emulated FP8
        # attention study path keeps the dense math
        self.decode_attend = DenseAttention(emulated_fp8_attention) if d.fp8_attention else fused_decode_attention
        self.prefill_attend = d.attend
        self.decode_layer = _compile(_decode_layer)
        self.prefill_layer = _compile(_prefill_layer)
        self.head = _compile(_head)
        self.pool = torch.cuda.graph_pool_handle()
        self.graphs: dict[int, CapturedStep] = {}
        self.compile_s: dict[str, float] = {}
        self.prefill_note = "compiled"
        self.prefill_graphs = ShapeGraphs("prefill")
        self.vision = VisionGraphs(engine.model, lambda pixels, grid: image_features(engine.model, pixels, grid))

    def path_notes(self) -> dict[str, str]:
        """How each stage ran (speed records carry it): graph replay, compiled layers, or a recorded fallback."""
        prefill = self.prefill_note if self.prefill_note != "compiled" else f"compiled, {self.prefill_graphs.note}"
        return {"vision_path": self.vision.note, "prefill_path": prefill, "decode_path": f"cuda-graph, {self.label}"}

    def reset(self, cache) -> None:
        """The cache was replaced (set_kv): captured graphs point at the old buffers."""
        self.graphs.clear()
        self.prefill_graphs.clear()

    # ----- prefill ----------------------------------------------------------------------------
    def prefill(self, step: StepInputs) -> torch.Tensor:
        """Final-normed hidden states; from a CUDA graph when this prompt geometry was prefilled before."""
        b, t, _ = step.embeds.shape
        if self.prefill_note != "compiled" or b * t > PREFILL_GRAPH_TOKENS:
            return self._prefill_layers(step)
        key = (tuple(step.embeds.shape), tuple(step.mask.shape), step.read_len)
        fn = lambda *tensors: self._prefill_layers(StepInputs(*tensors, read_len=step.read_len))  # noqa: E731
        return self.prefill_graphs(key, fn, (step.embeds, step.position_ids, step.write_pos, step.token_type,
                                             step.mask))

    def _prefill_layers(self, step: StepInputs) -> torch.Tensor:
        d, cache = self.engine.decoder, self.engine.cache
        x = step.embeds
        cos, sin = d.rope_tables(step.position_ids, x.dtype)
        layer_fn = self.prefill_layer if self.prefill_note == "compiled" else layer_forward
        start = time.perf_counter()
        try:
            for idx, layer in enumerate(d.layers):
                x = layer_fn(layer, self.projections, self.packs[idx], x, cos, sin, step.write_pos,
                             step.token_type, step.mask, cache.layer(idx), step.read_len, d.shape,
                             self.prefill_attend)
        except Exception as err:  # noqa: BLE001 - a compile failure falls back to eager, recorded
            if layer_fn is layer_forward:
                raise
            self.prefill_note = f"eager (compile failed: {type(err).__name__}: {str(err).splitlines()[0][:160]})"
            return self.prefill(step)
        self.compile_s.setdefault("prefill_first_call_s", time.perf_counter() - start)
        return d.norm(x)

    # ----- decode -----------------------------------------------------------------------------
    def decode(self, token: torch.Tensor, next_pos: torch.Tensor, slot: int, key_valid: torch.Tensor) -> torch.Tensor:
        b = token.shape[0]
        step = self.graphs.get(b)
        if step is None:
            step = self.graphs[b] = self._capture(b)
        s = step.inputs
        s.token.copy_(token)
        s.pos.copy_(next_pos)
        s.slot.fill_(slot)
        s.key_valid.copy_(key_valid)
        step.graph.replay()
        return step.logits

    def _decode_body(self, s: StaticDecodeInputs) -> torch.Tensor:
        d, cache = self.engine.decoder, self.engine.cache
        b = s.token.shape[0]
        x = d.embed_tokens(s.token[:, None])
        cos, sin = d.rope_tables(s.pos.view(1, b, 1).expand(3, b, 1), x.dtype)
        mask = s.key_valid[:, None, None, :]
        pending = None
        for idx, layer in enumerate(d.layers):
            x, pending = self.decode_layer(layer, self.projections, self.packs[idx], x, pending, cos, sin, s.slot,
                                           s.token_type, mask, cache.layer(idx), None, d.shape, self.decode_attend)
        return self.head(d.norm, d.lm_head, x[:, -1], pending[:, -1]).float()

    def _capture(self, b: int) -> CapturedStep:
        device, length = self.engine.device, self.engine.max_seq_len
        inputs = StaticDecodeInputs(
            token=torch.zeros(b, dtype=torch.long, device=device),
            pos=torch.zeros(b, dtype=torch.long, device=device),
            slot=torch.full((1,), length - 1, dtype=torch.long, device=device),   # masked scratch slot
            key_valid=torch.zeros(b, length, dtype=torch.bool, device=device),
            token_type=torch.full((b, 1), GENERATED, dtype=torch.long, device=device))
        inputs.key_valid[:, 0] = True
        start = time.perf_counter()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):      # compile, autotune and allocate outside the capture
                self._decode_body(inputs)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        self.compile_s[f"decode_bs{b}_compile_s"] = time.perf_counter() - start
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            logits = self._decode_body(inputs)
        return CapturedStep(graph, inputs, logits)
