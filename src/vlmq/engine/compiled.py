"""The compiled path: a decoder layer in five kernels at decode, the whole decode step in one CUDA graph.

A decode layer (x = the residual stream, packs from ``vlmq.engine.projections``):

1. ``qkv = fused_linear(x)`` with input_layernorm in its prologue (W8A8: and the per-token quantization);
2. RoPE, the K/V cache write (BF16 or FP8, every scale policy) and decode attention in one kernel
   (``vlmq::rope_kv_decode_attention``);
3. ``h = x + o_proj(attn)``: the residual add in the GEMV's epilogue;
4. ``m = silu(gate) * up`` of post_attention_layernorm(h): norm in the prologue, SiLU·mul in the epilogue
   (gate and up rows interleaved in one pack);
5. ``x = h + down_proj(m)``.

Where ``gemv.row_kernel_first``'s measured rule says (int8 / int4 weights at K > 2048, int4 gate/up at any K), an
RMSNorm runs first by ``normalize_rows`` instead of in the prologue: six or seven kernels a layer.
W8A8 layers quantize down_proj's input per token with the row maxima 4's epilogue gathers where 5 runs on the
CUDA cores (``vlmq::fused_mlp``: no launch of its own), else with ``normalize_rows`` between 4 and 5
(``$VLMQ_W8A8_ROW_MAX=kernel``: always).

The step adds the embedding and the M-RoPE tables (one Inductor kernel or two), the final norm + lm_head
(one GEMV with the norm in its prologue) and the greedy advance (one kernel). Packs the kernels cannot serve
(NVFP4, formats emulated on this device, per-tensor W8A8, mixed formats in a group, ``bf16_kernel="cublas"``) run
the same arithmetic composed around the modules' ops, and ``fp8_attention`` (the emulated study path) writes the
cache with ``vlmq::rope_kv_write`` and attends densely; the decode label says which.

Prefill runs the same layer function with ``decode=False``: norms and epilogues composed around the
modules' ops (``w8_linear`` / ``w4a16_linear`` / cuBLAS pick tensor-core GEMMs for many rows; Inductor fuses
the elementwise work), RoPE + cache write through ``vlmq::rope_kv_write``, dense attention over the prompt.

One layer function is compiled for all layers (the packs are inputs, not constants), so compile time is one layer's.
The decode step -- prologue, layers, head, and the greedy advance (``vlmq::greedy_advance``, one kernel: the chosen
token, EOS flags, position, slot and key mask updated on the device) -- is captured into a ``torch.cuda.CUDAGraph``
per batch size and replayed back to back, with no host work between tokens. Every recipe compiles under the same
pinned Inductor settings (``INDUCTOR_OPTIONS``). Decode attends over the whole static cache with a key mask (static
shapes for the graph); warm-up and capture write to the cache's last slot, which is masked until a real step
overwrites it.

``FusedRunner`` is the device-agnostic part (no graphs; layers compiled or not): on a CPU the ops run
their pure-torch references, which is how tests hold the fused decode step to the eager engine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
import weakref
from dataclasses import dataclass

import torch
import torch._dynamo

from vlmq.engine.decoder import DenseAttention, StepInputs, additive_mask, emulated_fp8_attention, sdpa_attention
from vlmq.engine.graphs import ShapeGraphs, VisionGraphs
from vlmq.engine.kernels import (
    attention_combine,
    rope_write_attention_o_proj,
    rope_write_decode_attention,
    rope_write_kv,
    run_mlp_row_max,
)
from vlmq.engine.kernels.greedy import greedy_advance, greedy_advance_mode, greedy_advance_reference
from vlmq.engine.kernels.prefill import (
    PREPARE_ENV,
    PreparedLayers,
    SidePreparation,
    prefill_gemm_note,
    prefill_prepare_mode,
)
from vlmq.engine.projections import HeadPack, LayerPacks, LinearPack, build_packs, row_max_slots, run_linear
from vlmq.engine.rope import mrope_cos_sin
from vlmq.engine.types import GENERATED
from vlmq.engine.vision import image_features

INDUCTOR_OPTIONS = {
    "coordinate_descent_tuning": False,  # same for every recipe (torchao's setter turns it on)
    "coordinate_descent_check_all_directions": False,
    "force_fuse_int_mm_with_mul": True,
    "triton.unique_kernel_names": True,
    "epilogue_fusion": True,
    "max_autotune": False,
    "triton.cudagraphs": False,  # vlmq captures the whole step itself
}


# prompts up to this many tokens (batch x length) prefill from a CUDA graph once their shape repeats
PREFILL_GRAPH_TOKENS = 8192


# ----- attention of a fused layer: raw q/k/v [B, T, heads * D] in, [B, Hq, T, D] out -------------------
class RopeWriteAttention:
    """RoPE + cache write in one kernel (``vlmq::rope_kv_write``), then ``fn`` over the cache slots
    [0, read_len) (prefill; decode with the emulated FP8 attention)."""

    def __init__(self, fn):
        self.dense = DenseAttention(fn)

    def __call__(self, q, k, v, cos, sin, kv, write_pos, token_type, mask, read_len):
        return self.dense(rope_write_kv(q, k, v, cos, sin, kv, write_pos, token_type), kv, read_len, mask)


def fused_decode_attention(q, k, v, cos, sin, kv, write_pos, token_type, mask, read_len):
    """RoPE, the cache write and attention over the whole cache (``mask`` [B, 1, 1, L]) in one kernel."""
    return rope_write_decode_attention(q, k, v, cos, sin, kv, write_pos, token_type, mask[:, 0, 0, :])


def takes_attention_partials(pack: LinearPack) -> bool:
    """Whether o_proj's pack can combine the decode attention's partials itself (``vlmq::rope_kv_attention_o_proj``:
    float rows, no pre-scale, one fused GEMV; the op checks the kernel and the splits at each call)."""
    p = pack.packed
    return pack.decode_kernel and p is not None and p.a_mode == "bf16" and p.pre_scale is None


def attention_o_proj(q, k, v, cos, sin, kv, write_pos, token_type, mask, o: LinearPack, x):
    """RoPE, the cache write, attention and o_proj + residual in one op, the attention's combine left to o_proj's
    GEMV; [B, 1, hidden] out."""
    b, t, _ = x.shape
    h = rope_write_attention_o_proj(
        q, k, v, cos, sin, kv, write_pos, token_type, mask[:, 0, 0, :], o.packed, x.reshape(b * t, -1)
    )
    return h.view(b, t, -1)


# ----- the compiled functions (module level: compiled code holds no closure over one model) ----------
def attention_residual(
    packs: LayerPacks, x, cos, sin, write_pos, token_type, mask, kv, read_len, attend, decode: bool, o_combines=False
) -> torch.Tensor:
    """A layer's attention half: h = x + o_proj(attention(q/k/v of input_layernorm(x))). ``o_combines`` (decode
    with the fused attention): o_proj combines the attention's splits where its pack can."""
    b, t, _ = x.shape
    fwd = packs.forward if decode else None  # W8A8 rows quantized with maxima the GEMV before gathered
    x_row_max = fwd.qkv_rows if fwd else None
    qkv = run_linear(packs.qkv, x, decode=decode, norm_weight=packs.input_norm, eps=packs.eps, x_row_max=x_row_max)
    q, k, v = qkv.split(packs.sizes, dim=-1)
    if decode and o_combines and takes_attention_partials(packs.o):
        return attention_o_proj(q, k, v, cos, sin, kv, write_pos, token_type, mask, packs.o, x)
    out = attend(q, k, v, cos, sin, kv, write_pos, token_type, mask, read_len)
    o_in = out.transpose(1, 2).reshape(b, t, -1)
    return run_linear(packs.o, o_in, decode=decode, residual=x, gather=fwd.o if fwd else None)


def attention_and_mlp_input(
    packs: LayerPacks, x, cos, sin, write_pos, token_type, mask, kv, read_len, attend, decode: bool, o_combines=False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer up to down_proj: (h = x + attention, m = silu(gate) * up of post_attention_layernorm(h))."""
    h = attention_residual(packs, x, cos, sin, write_pos, token_type, mask, kv, read_len, attend, decode, o_combines)
    m = run_linear(packs.gate_up, h, decode=decode, norm_weight=packs.post_norm, eps=packs.eps, act="silu_mul")
    return h, m


def fused_layer(
    packs: LayerPacks, x, cos, sin, write_pos, token_type, mask, kv, read_len, attend, decode: bool, o_combines=False
) -> torch.Tensor:
    """One decoder layer through its packs (the module docstring lists the decode kernels). A W8A8 layer with
    row-maximum slots (``projections.build_packs``) runs its MLP at decode as ``vlmq::fused_mlp``, or with forwarded
    maxima (``projections.ForwardedMaxima``) as gate/up's ``vlmq::fused_linear_gather`` and down_proj's call."""
    if decode and packs.forward is not None:
        fwd = packs.forward
        h = attention_residual(packs, x, cos, sin, write_pos, token_type, mask, kv, read_len, attend, True)
        m = run_linear(
            packs.gate_up, h, decode=True, norm_weight=packs.post_norm, eps=packs.eps, act="silu_mul",
            x_row_max=fwd.gate_up_rows, gather=fwd.gate_up,
        )  # fmt: skip
        return run_linear(packs.down, m, decode=True, residual=h, x_row_max=fwd.gate_up.slot, gather=fwd.down)
    if decode and packs.row_max is not None:
        h = attention_residual(
            packs, x, cos, sin, write_pos, token_type, mask, kv, read_len, attend, decode, o_combines
        )  # fmt: skip
        return run_mlp_row_max(
            packs.gate_up.packed, packs.down.packed, h, norm_weight=packs.post_norm, eps=packs.eps, residual=h,
            row_max=packs.row_max,
        )  # fmt: skip
    h, m = attention_and_mlp_input(
        packs, x, cos, sin, write_pos, token_type, mask, kv, read_len, attend, decode, o_combines
    )
    return run_linear(packs.down, m, decode=decode, residual=h)


def prefill_layer(
    packs: LayerPacks, h, y, cos, sin, write_pos, token_type, mask, kv, read_len, attend
) -> tuple[torch.Tensor, torch.Tensor]:
    """``fused_layer`` at prefill on the input ``h + y``, returning its output as the same unsummed pair
    (residual, down_proj's output): the next layer sums them in its input norm's kernel, which writes the sum for
    its residual too. Summed here, the add was a kernel of its own a layer (2.1 us in the qwen2-vl-2b first token
    on the H200, eighth session's profile)."""
    h, m = attention_and_mlp_input(packs, h + y, cos, sin, write_pos, token_type, mask, kv, read_len, attend, False)
    return h, run_linear(packs.down, m, decode=False)


def decode_prologue(embed, inv_freq, section, token, pos):
    """Embedding of the step's tokens [B] and their M-RoPE tables (text positions: one id on all axes)."""
    b = token.shape[0]
    x = embed(token[:, None])
    cos, sin = mrope_cos_sin(pos.view(1, b, 1).expand(3, b, 1), inv_freq, list(section), x.dtype)
    return x, cos, sin


def fused_head(head: HeadPack, x_last: torch.Tensor) -> torch.Tensor:
    """Final RMSNorm + lm_head in one GEMV; logits [B, vocab] in the model's dtype, as the GEMV writes them (the
    greedy advance reads them so: no fp32 copy of the vocabulary a step)."""
    return run_linear(head.lm_head, x_last, decode=True, norm_weight=head.norm, eps=head.eps)


def _compile(fn):
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    return torch.compile(fn, fullgraph=True, options=dict(INDUCTOR_OPTIONS))


@dataclass
class StaticDecodeInputs:
    token: torch.Tensor  # [B] long: the step's token; a greedy step writes the token it chose here
    pos: torch.Tensor  # [B] long
    slot: torch.Tensor  # [1] long
    key_valid: torch.Tensor  # [B, L] bool
    token_type: torch.Tensor  # [B, 1] long (generated)
    history: torch.Tensor | None = None  # [B, L] long: column s holds the token the step at slot s chose
    finished: torch.Tensor | None = None  # [B] bool: the row has chosen an EOS token


def static_inputs(b: int, length: int, device: torch.device) -> StaticDecodeInputs:
    """A greedy step's buffers for ``b`` rows over a cache of ``length`` slots, at the masked scratch slot
    (``length - 1``) that warm-up and capture write."""
    inputs = StaticDecodeInputs(
        token=torch.zeros(b, dtype=torch.long, device=device),
        pos=torch.zeros(b, dtype=torch.long, device=device),
        slot=torch.full((1,), length - 1, dtype=torch.long, device=device),
        key_valid=torch.zeros(b, length, dtype=torch.bool, device=device),
        token_type=torch.full((b, 1), GENERATED, dtype=torch.long, device=device),
        history=torch.zeros(b, length, dtype=torch.long, device=device),
        finished=torch.zeros(b, dtype=torch.bool, device=device),
    )
    inputs.key_valid[:, 0] = True
    inputs.key_valid[:, length - 1] = True  # the fused attention attends to the slot it writes
    return inputs


@dataclass
class CapturedStep:
    graph: torch.cuda.CUDAGraph
    inputs: StaticDecodeInputs
    logits: torch.Tensor


class FusedRunner:
    """The fused decoder of an ``Engine`` without CUDA graphs (any device): prefill and decode through the
    packs. ``Engine`` calls ``prefill`` / ``decode`` / ``vision`` of whatever runner it holds."""

    def __init__(self, engine, *, compile: bool = True):
        self.engine = engine
        d = engine.decoder
        self.packs, self.head_pack, label = build_packs(d, bf16_kernel=engine.bf16_kernel)
        dense = emulated_fp8_attention if d.fp8_attention else sdpa_attention
        self.decode_attend = RopeWriteAttention(dense) if d.fp8_attention else fused_decode_attention
        self.prefill_attend = RopeWriteAttention(dense)
        # o_proj combines the fused attention's splits (vlmq::rope_kv_attention_o_proj), where $VLMQ_ATTENTION_COMBINE
        # says so and o_proj's packs can
        self.o_combines = not d.fp8_attention and attention_combine() == "o_proj"
        self.label = label + (", fp8-attention-emulated" if d.fp8_attention else "")
        if self.o_combines and any(takes_attention_partials(p.o) for p in self.packs):
            self.label += ", attention combined in o_proj"
        kind = (
            "weight-only" if any(k in label for k in ("w8a16-int8", "w4a16")) else "w8a8" if "w8a8" in label else None
        )
        self.prefill_gemm = prefill_gemm_note(engine.device, kind) if kind else None
        # weight-side prefill work (dequantized weights, int4 group terms) one layer ahead on a side stream
        prepare = prefill_prepare_mode()
        self.prefill_prepare = prepare != "off" and kind == "weight-only" and engine.device.type == "cuda"
        self.prefill_shuffle = prepare == "shuffle"
        self.preparation: SidePreparation | None = None
        if self.prefill_prepare:
            self.prefill_gemm += f"; weight-side work one layer ahead on a side stream (${PREPARE_ENV}={prepare}"
            self.prefill_gemm += ": int4 CUTLASS weights in the shuffled layout)" if self.prefill_shuffle else ")"
        wrap = _compile if compile else (lambda fn: fn)
        self.decode_layer, self.prefill_layer = wrap(fused_layer), wrap(prefill_layer)
        self.prologue, self.head = wrap(decode_prologue), wrap(fused_head)
        # one kernel on CUDA (vlmq::greedy_advance), nothing to compile; or its reference through Inductor (an A/B)
        self.advance = greedy_advance if greedy_advance_mode() == "kernel" else wrap(greedy_advance_reference)
        self.eos = torch.tensor(engine.eos_ids or [-1], dtype=torch.long, device=engine.device)
        self.inputs: dict[int, StaticDecodeInputs] = {}  # per batch size
        # batch size -> (a weak reference to) the DecodeState whose values its inputs hold
        self.bound: dict[int, weakref.ref] = {}
        self.prefill_note = "compiled" if compile else "eager"
        self.compile_s: dict[str, float] = {}
        self.vision = functools.partial(image_features, engine.model)  # (pixel_values, grid_thw) -> features

    def path_notes(self) -> dict[str, str]:
        return self._with_prefill_gemm(
            {"vision_path": "eager", "prefill_path": self.prefill_note, "decode_path": self.label}
        )

    def _with_prefill_gemm(self, notes: dict[str, str]) -> dict[str, str]:
        """``notes`` and, for int8 / int4 weight-only models, how their prefill GEMMs run."""
        return notes | ({"prefill_gemm": self.prefill_gemm} if self.prefill_gemm else {})

    def reset(self, cache) -> None:
        """The cache was replaced (set_kv): no decode state continues on it."""
        self.bound.clear()
        self.clear_row_max()

    def clear_row_max(self) -> None:
        """Zero the W8A8 row-maximum slots (``LayerPacks.row_max``): whole steps keep them so, and a step cut off
        between two layers (an error) would leave a slot holding its maxima."""
        for slot in row_max_slots(self.packs):
            slot.zero_()

    def prefill(self, step: StepInputs) -> torch.Tensor:
        """Final-normed hidden states [B, T, hidden]; writes the prompt's K/V into the engine's cache."""
        d, cache = self.engine.decoder, self.engine.cache
        h = step.embeds
        y = torch.zeros_like(h)  # the first layer's input is h + 0 = h exactly
        cos, sin = d.rope_tables(step.position_ids, h.dtype)
        layers_step = step  # SDPA: the mask converted once, not in every layer (``additive_mask``)
        if not d.fp8_attention:
            layers_step = dataclasses.replace(step, mask=additive_mask(step.mask, h.dtype))
        layer_fn = self.prefill_layer if self.prefill_note == "compiled" else prefill_layer
        start = time.perf_counter()
        try:
            ahead = self.prepared_layers(h.shape[0] * h.shape[1], h.dtype)
            try:
                for idx, packs in enumerate(self.packs):
                    inputs = layers_step.layer_inputs(cos, sin, cache.layer(idx))
                    with ahead.layer(idx) if ahead is not None else contextlib.nullcontext():
                        h, y = layer_fn(packs, h, y, *inputs, self.prefill_attend)
            finally:
                if ahead is not None:
                    ahead.finish()
        except Exception as err:  # noqa: BLE001 - a compile failure falls back to the uncompiled layers, recorded
            if layer_fn is prefill_layer:
                raise
            self.prefill_note = f"eager (compile failed: {type(err).__name__}: {str(err).splitlines()[0][:160]})"
            return self.prefill(step)
        self.compile_s.setdefault("prefill_first_call_s", time.perf_counter() - start)
        return d.norm(h + y)

    def prepared_layers(self, rows: int, dtype: torch.dtype) -> PreparedLayers | None:
        """This prefill's ``SidePreparation`` (``$VLMQ_PREFILL_PREPARE`` side / shuffle, a weight-only model on CUDA)
        over the weight-only projections of every layer, or None where it is off or nothing is made ahead at
        ``rows``."""
        if not self.prefill_prepare:
            return None
        layers = [
            [
                (p.packed.weight, p.packed.scale, p.packed.zero, p.packed.group_size)
                for p in (packs.qkv, packs.o, packs.gate_up, packs.down)
                if p.packed is not None and p.fmt is not None and p.packed.a_mode == "bf16" and not p.reference
            ]
            for packs in self.packs
        ]
        if self.preparation is None:
            self.preparation = SidePreparation(self.engine.device, self.prefill_shuffle)
        work = self.preparation.plan(layers, rows, dtype)
        return self.preparation.start(work, dtype) if any(work) else None

    def decode(self, state, token: torch.Tensor) -> torch.Tensor:
        """Logits [B, vocab] (the model's dtype) of one greedy decode step of ``token`` [B] at ``state`` (an engine
        ``DecodeState``; its K/V written at cache slot ``state.next_slot``). The step advances the state on the
        device (``greedy_advance``): afterwards ``next_token(B)`` holds its greedy token, ``state.next_pos`` and
        ``state.key_valid`` (the runner's buffers from the first step on) are the next step's, and the caller
        moves ``state.next_slot`` on. Passing ``next_token(B)`` back as the next token copies nothing."""
        s = self.static_inputs(token.shape[0])
        self.bind(s, state, token)
        return self.run_step(s)

    def next_token(self, b: int) -> torch.Tensor:
        """[B] the token the last step at batch ``b`` chose (overwritten by the next step)."""
        return self.inputs[b].token

    def history(self, b: int) -> torch.Tensor:
        """[B, L] the tokens the steps at batch ``b`` chose, at the columns of their cache slots."""
        return self.inputs[b].history

    def all_finished(self, b: int) -> bool:
        """Whether every row at batch ``b`` has chosen an EOS (waits for the last step)."""
        return bool(self.inputs[b].finished.all())

    def static_inputs(self, b: int) -> StaticDecodeInputs:
        if b not in self.inputs:
            self.inputs[b] = static_inputs(b, self.engine.max_seq_len, self.engine.device)
        return self.inputs[b]

    def bind(self, s: StaticDecodeInputs, state, token: torch.Tensor) -> None:
        """Copy ``state`` into the step's buffers unless they already hold it (the previous step advanced them),
        then point the state at them; copy ``token`` unless it is the one the last step chose."""
        b = token.shape[0]
        if self.bound.get(b, lambda: None)() is not state:
            state.key_valid[:, state.next_slot] = True
            s.pos.copy_(state.next_pos)
            s.slot.fill_(state.next_slot)
            s.key_valid.copy_(state.key_valid)
            s.finished.copy_(torch.isin(token, self.eos))
            state.key_valid, state.next_pos = s.key_valid, s.pos
            self.bound[b] = weakref.ref(state)
        if token is not s.token:
            s.token.copy_(token)

    def run_step(self, s: StaticDecodeInputs) -> torch.Tensor:
        return self.greedy_step(s)

    def greedy_step(self, s: StaticDecodeInputs) -> torch.Tensor:
        """The decode step and its ``greedy_advance``: what a CUDA graph captures; the logits."""
        logits = self.decode_logits(s)
        self.advance(logits, s.token, s.pos, s.slot, s.key_valid, s.history, s.finished, self.eos)
        return logits

    def decode_logits(self, s: StaticDecodeInputs) -> torch.Tensor:
        """The decode step a CUDA graph captures: prologue, the fused layers, final norm + lm_head."""
        d, cache = self.engine.decoder, self.engine.cache
        x, cos, sin = self.prologue(d.embed_tokens, d.inv_freq, tuple(d.section), s.token, s.pos)
        mask = s.key_valid[:, None, None, :]
        for idx, packs in enumerate(self.packs):
            x = self.decode_layer(
                packs,
                x,
                cos,
                sin,
                s.slot,
                s.token_type,
                mask,
                cache.layer(idx),
                None,
                self.decode_attend,
                True,
                self.o_combines,
            )
        return self.head(self.head_pack, x[:, -1])


class CompiledRunner(FusedRunner):
    """``FusedRunner`` on CUDA with compiled layers and CUDA graphs: the decode step per batch size, the
    vision tower per image grid and prefill per prompt geometry (``vlmq.engine.graphs``)."""

    def __init__(self, engine):
        super().__init__(engine, compile=True)
        self.pool = torch.cuda.graph_pool_handle()
        self.graphs: dict[int, CapturedStep] = {}
        self.prefill_graphs = ShapeGraphs("prefill")
        self.vision = VisionGraphs(engine.model, functools.partial(image_features, engine.model))

    def path_notes(self) -> dict[str, str]:
        """How each stage ran (speed records carry it): graph replay, compiled layers, or a recorded fallback."""
        prefill = self.prefill_note if self.prefill_note != "compiled" else f"compiled, {self.prefill_graphs.note}"
        notes = {"vision_path": self.vision.note, "prefill_path": prefill, "decode_path": f"cuda-graph, {self.label}"}
        return self._with_prefill_gemm(notes)

    def reset(self, cache) -> None:
        """The cache was replaced (set_kv): captured graphs point at the old buffers."""
        super().reset(cache)
        self.graphs.clear()
        self.inputs.clear()
        self.prefill_graphs.clear()

    def prefill(self, step: StepInputs) -> torch.Tensor:
        """Final-normed hidden states; from a CUDA graph when this prompt geometry was prefilled before."""
        b, t, _ = step.embeds.shape
        if self.prefill_note != "compiled" or b * t > PREFILL_GRAPH_TOKENS:
            return super().prefill(step)
        key = (tuple(step.embeds.shape), tuple(step.mask.shape), step.read_len)
        fn = lambda *tensors: super(CompiledRunner, self).prefill(StepInputs(*tensors, read_len=step.read_len))  # noqa: E731
        return self.prefill_graphs(
            key, fn, (step.embeds, step.position_ids, step.write_pos, step.token_type, step.mask)
        )

    def drop_decode_graphs(self) -> None:
        """Forget the captured decode steps: the next step of each batch size is captured again, so a launch setting
        the kernels read as they launch (``$VLMQ_PDL_TRIGGER``) takes effect without a new engine (an A/B in one
        process: ``benchmarks/bench_decode_ab.py``). Compiled code and the cache stay."""
        self.graphs.clear()

    def static_inputs(self, b: int) -> StaticDecodeInputs:
        """The captured step's buffers (capturing it on first use: its warm-up writes them, so capture
        precedes ``bind``)."""
        if b not in self.graphs:
            self.bound.pop(b, None)
            self.graphs[b] = self._capture(b)
            self.inputs[b] = self.graphs[b].inputs
        return self.inputs[b]

    def run_step(self, s: StaticDecodeInputs) -> torch.Tensor:
        step = self.graphs[s.token.shape[0]]
        step.graph.replay()
        return step.logits

    def _capture(self, b: int) -> CapturedStep:
        inputs = static_inputs(b, self.engine.max_seq_len, self.engine.device)
        self.clear_row_max()
        start = time.perf_counter()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):  # compile, autotune and allocate outside the capture
                self.greedy_step(inputs)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        self.compile_s[f"decode_bs{b}_compile_s"] = time.perf_counter() - start
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            logits = self.greedy_step(inputs)
        return CapturedStep(graph, inputs, logits)
