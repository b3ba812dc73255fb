"""The generation engine: vision tower → prefill → greedy decode over a static KV cache.

Eager everywhere; on CUDA ``compile=True`` runs the decode step (and the prefill) through
``vlmq.engine.compiled`` (torch.compile, CUDA graphs). Both paths share the cache, the masks and the
M-RoPE positions, so they produce the same greedy tokens on the same weights.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import partial

import torch

from vlmq.engine.decoder import StepInputs, TextDecoder, attention_mask
from vlmq.engine.inputs import PromptBatch, encode_prompts
from vlmq.engine.kv_cache import StaticKVCache, write_kv
from vlmq.engine.projections import check_bf16_kernel
from vlmq.engine.rope import prompt_position_ids_on
from vlmq.engine.timing import Stopwatch
from vlmq.engine.types import GENERATED, PADDING, Generation, KVConfig, Prompt, validate_kv_config
from vlmq.engine.vision import image_features
from vlmq.errors import UnsupportedOnDevice, VlmqError


@dataclass
class DecodeState:
    """Where a batch stands after prefill: what the next decode step needs."""

    batch: PromptBatch
    key_valid: torch.Tensor  # [B, max_seq_len] bool: cache slots a query may attend to
    next_pos: torch.Tensor  # [B] M-RoPE position of the next token (same on all three axes)
    next_slot: int  # cache slot the next token's K/V go to
    logits: torch.Tensor  # [B, vocab] float32 of the last position


def eos_token_ids(model, tokenizer) -> list[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = [] if ids is None else ([ids] if isinstance(ids, int) else list(ids))
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return sorted(set(ids))


class Engine:
    def __init__(
        self,
        loaded,
        *,
        kv: KVConfig | None = None,
        compile: bool = False,
        fp8_attention: bool = False,
        max_batch_size: int = 1,
        max_seq_len: int = 2048,
        bf16_kernel: str = "fused",
    ):
        if max_batch_size < 1 or max_seq_len < 2:
            raise VlmqError(
                f"max_batch_size ({max_batch_size}) must be >= 1 and max_seq_len ({max_seq_len}) "
                ">= 2; pass positive sizes to Engine(...)"
            )
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.processor = loaded.processor
        self.decoder = TextDecoder(self.model, fp8_attention=fp8_attention)
        self.device = self.decoder.embed_tokens.weight.device
        self.dtype = self.decoder.embed_tokens.weight.dtype
        self.fp8_attention = fp8_attention
        self.max_batch_size = max_batch_size
        self.max_seq_len = max_seq_len
        check_bf16_kernel(bf16_kernel)
        self.bf16_kernel = bf16_kernel  # compiled decode, float linears: "fused" or "cublas" (engine/projections.py)
        self.eos_ids = eos_token_ids(self.model, self.processor.tokenizer)
        kv = kv if kv is not None else KVConfig()  # BF16 cache
        self.kv = kv
        self.cache = self._new_cache(kv)
        self.compiled = self._compiled_runner() if compile else None

    # ----- public API -------------------------------------------------------------------------
    def set_kv(self, kv: KVConfig) -> None:
        """Switch the KV cache format/scales (reallocates the cache; compiled graphs follow it)."""
        self.kv = kv
        self.cache = self._new_cache(kv)
        if self.compiled is not None:
            self.compiled.reset(self.cache)

    @contextlib.contextmanager
    def observe(self, observer):
        """While active, every layer calls ``observer(layer_idx, k, v, token_type)`` (eager path)."""
        previous = self.decoder.observer
        self.decoder.observer = observer
        try:
            yield self
        finally:
            self.decoder.observer = previous

    def next_token_logits(self, prompts: list[Prompt]) -> torch.Tensor:
        """[B, vocab] float32 logits of the next token after each prompt (prefill only)."""
        rows = []
        for chunk in self._chunks(prompts):
            batch = encode_prompts(self.processor, chunk, self.device)
            self._check_length(batch, 0)
            with torch.no_grad():
                rows.append(self._prefill(batch, Stopwatch(self.device)).logits)
        return torch.cat(rows, dim=0)

    def teacher_forced_logprobs(self, prompts: list[Prompt], continuations: list[list[int]]) -> list[torch.Tensor]:
        """Per prompt, [len(continuation), vocab] float32 log-probabilities: row j is the next-token
        distribution after the prompt and ``continuation[:j]`` (so row j scores ``continuation[j]``).

        Eager path, one pass per batch over prompt + continuation: the continuation is written to the KV
        cache as generated tokens (same positions, token type and cache format as greedy decoding), so the
        rows are what the decode steps compute when they emit exactly these tokens.
        """
        if len(prompts) != len(continuations):
            raise VlmqError(
                f"teacher_forced_logprobs got {len(prompts)} prompts and {len(continuations)} "
                "continuations; pass one token list per prompt"
            )
        vocab = self.decoder.lm_head.weight.shape[0]
        for tokens in continuations:
            if not tokens or not all(isinstance(t, int) and 0 <= t < vocab for t in tokens):
                raise VlmqError(
                    f"each continuation must be a non-empty list of token ids in [0, {vocab}); "
                    "pass Generation.token_ids"
                )
        out: list[torch.Tensor] = []
        for start in range(0, len(prompts), self.max_batch_size):
            chunk = slice(start, start + self.max_batch_size)
            with torch.no_grad():
                out.extend(self._teacher_forced_batch(list(prompts[chunk]), list(continuations[chunk])))
        return out

    def generate(self, prompts: list[Prompt], max_new_tokens: int, *, ignore_eos: bool = False) -> list[Generation]:
        """Greedy generation; rows stop at EOS unless ``ignore_eos`` (then exactly max_new_tokens)."""
        if max_new_tokens < 1:
            raise VlmqError(f"max_new_tokens must be >= 1 (got {max_new_tokens})")
        out: list[Generation] = []
        for chunk in self._chunks(prompts):
            out.extend(self._generate_batch(chunk, max_new_tokens, ignore_eos))
        return out

    def synthetic_context(self, batch: int, context: int, seed: int = 0) -> DecodeState:
        """A decode state whose cache holds ``context`` random K/V entries per row, written through the
        cache's own write (FP8 entries get their policy's scales): decode at long context without paying
        a long prefill (speed benchmarks and profiles)."""
        if batch > self.max_batch_size or context >= self.max_seq_len:
            raise VlmqError(
                f"synthetic context {batch} x {context} does not fit the engine "
                f"({self.max_batch_size} x {self.max_seq_len}); build it with larger sizes"
            )
        d, device = self.decoder, self.device
        slots = torch.arange(context, device=device)
        token_type = torch.zeros(batch, context, dtype=torch.long, device=device)
        gen = torch.Generator(device=device).manual_seed(seed)
        shape = (batch, d.num_kv_heads, context, d.head_dim)
        for idx in range(d.num_layers):
            k = torch.randn(shape, generator=gen, device=device, dtype=self.dtype)
            v = torch.randn(shape, generator=gen, device=device, dtype=self.dtype)
            write_kv(self.cache.layer(idx), k, v, slots, token_type)
        key_valid = torch.zeros(batch, self.max_seq_len, dtype=torch.bool, device=device)
        key_valid[:, :context] = True
        return DecodeState(
            batch=None,
            key_valid=key_valid,
            next_pos=torch.full((batch,), context, device=device),
            next_slot=context,
            logits=torch.zeros(batch, 1, device=device),
        )

    # ----- generation -------------------------------------------------------------------------
    def _generate_batch(self, prompts: list[Prompt], max_new_tokens: int, ignore_eos: bool) -> list[Generation]:
        watch = Stopwatch(self.device)
        watch.mark("start")
        batch = encode_prompts(self.processor, prompts, self.device)
        self._check_length(batch, max_new_tokens)
        watch.mark("encoded")
        with torch.no_grad():
            state = self._prefill(batch, watch)
            tokens = self._decode(state, max_new_tokens, ignore_eos)
        watch.mark("done")
        timings = self._timings(watch, n_steps=tokens.shape[1] - 1)
        return [self._generation(batch, row, tokens[row], timings) for row in range(len(prompts))]

    def _prefill(self, batch: PromptBatch, watch: Stopwatch) -> DecodeState:
        watch.mark("prefill_start")
        embeds, position_ids = self._prompt_inputs(batch, watch, eager=False)
        b, t = batch.input_ids.shape
        key_valid = torch.zeros(b, self.max_seq_len, dtype=torch.bool, device=self.device)
        key_valid[:, :t] = batch.attention_mask.bool()
        slots = torch.arange(t, device=self.device)
        step = StepInputs(
            embeds=embeds,
            position_ids=position_ids,
            write_pos=slots,
            token_type=batch.token_type,
            mask=attention_mask(key_valid, slots, t),
            read_len=t,
        )
        hidden = self._run(step, prefill=True)
        logits = self.decoder.logits(hidden[:, -1]).float()
        watch.mark("prefill")
        next_pos = position_ids.amax(dim=(0, 2)) + 1
        return DecodeState(batch=batch, key_valid=key_valid, next_pos=next_pos, next_slot=t, logits=logits)

    def _prompt_inputs(self, batch: PromptBatch, watch: Stopwatch, eager: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(input embeddings with the image features scattered in [B, T, hidden], M-RoPE ids [3, B, T]).
        The M-RoPE ids are computed on the host while the device runs the vision tower."""
        visual = None
        if batch.pixel_values is not None:
            vision = partial(image_features, self.model) if eager else self._vision
            visual = vision(batch.pixel_values, batch.image_grid_thw)
        watch.mark("vision")
        position_ids = prompt_position_ids_on(self.model, batch.host or batch, self.device)
        embeds = self.decoder.embed_tokens(batch.input_ids)
        if visual is not None:
            is_image = (batch.input_ids == self.model.config.image_token_id).unsqueeze(-1)
            embeds = embeds.masked_scatter(is_image, visual.to(embeds.dtype))
        return embeds, position_ids

    def _teacher_forced_batch(self, prompts: list[Prompt], continuations: list[list[int]]) -> list[torch.Tensor]:
        """Prompt rows are left-padded (as in generation), continuations right-padded: a padded tail comes
        after every real position, so causality keeps it out of the rows returned."""
        batch = encode_prompts(self.processor, prompts, self.device)
        lengths = [len(c) for c in continuations]
        extra = max(lengths) - 1  # the last token is scored, never fed
        self._check_length(batch, extra)
        embeds, position_ids = self._prompt_inputs(batch, Stopwatch(self.device), eager=True)
        b, t = batch.input_ids.shape
        fed = torch.zeros(b, extra, dtype=torch.long, device=self.device)
        real = torch.zeros(b, extra, dtype=torch.bool, device=self.device)
        for row, tokens in enumerate(continuations):
            fed[row, : len(tokens) - 1] = torch.tensor(tokens[:-1], dtype=torch.long)
            real[row, : len(tokens) - 1] = True
        steps = torch.arange(extra, device=self.device)
        fed_pos = (position_ids.amax(dim=(0, 2)) + 1)[:, None] + steps  # as decode: max prompt id + 1, ...
        key_valid = torch.zeros(b, self.max_seq_len, dtype=torch.bool, device=self.device)
        key_valid[:, : t + extra] = torch.cat([batch.attention_mask.bool(), real], dim=1)
        token_type = torch.cat([batch.token_type, torch.where(real, GENERATED, PADDING)], dim=1)
        slots = torch.arange(t + extra, device=self.device)
        step = StepInputs(
            embeds=torch.cat([embeds, self.decoder.embed_tokens(fed)], dim=1),
            position_ids=torch.cat([position_ids, fed_pos[None].expand(3, b, extra)], dim=2),
            write_pos=slots,
            token_type=token_type,
            mask=attention_mask(key_valid, slots, t + extra),
            read_len=t + extra,
        )
        hidden = self.decoder.forward(step, self.cache)[:, t - 1 :]
        return [
            torch.log_softmax(self.decoder.logits(hidden[row, :n]).float(), dim=-1) for row, n in enumerate(lengths)
        ]

    def _decode(self, state: DecodeState, max_new_tokens: int, ignore_eos: bool) -> torch.Tensor:
        """[B, n] greedy tokens (n <= max_new_tokens; n < max only when every row hit EOS)."""
        eos = torch.tensor(self.eos_ids, device=self.device, dtype=torch.long)
        token = state.logits.argmax(dim=-1)
        finished = torch.isin(token, eos)
        if self._runs_fused():
            done = not ignore_eos and bool(finished.all())
            return token[:, None] if done else self._decode_fused(state, token, max_new_tokens, ignore_eos)
        tokens = [token]
        for _ in range(max_new_tokens - 1):
            if not ignore_eos and bool(finished.all()):
                break
            token = self.decode_step(state, token)
            tokens.append(token)
            finished |= torch.isin(token, eos)
        return torch.stack(tokens, dim=1)

    def _decode_fused(
        self, state: DecodeState, first: torch.Tensor, max_new_tokens: int, ignore_eos: bool
    ) -> torch.Tensor:
        """``_decode`` through the runner, whose steps advance their own inputs on the device (and keep the EOS
        flags and chosen tokens there): between tokens the host only launches the next step, and waits for it
        only to read the flags (not with ``ignore_eos``). Checking flags some steps late would keep the GPU
        busier but run steps past the EOS: the evaluation tasks' answers are a few tokens long."""
        b, start, token, steps = first.shape[0], state.next_slot, first, 0
        for step in range(max_new_tokens - 1):
            if step > 0 and not ignore_eos and self.compiled.all_finished(b):
                break
            token = self.decode_step(state, token)
            steps += 1
        if not steps:
            return first[:, None]
        return torch.cat([first[:, None], self.compiled.history(b)[:, start : start + steps]], dim=1)

    def _runs_fused(self) -> bool:
        return self.compiled is not None and self.decoder.observer is None

    def decode_step(self, state: DecodeState, token: torch.Tensor) -> torch.Tensor:
        """Feed ``token`` [B] at the state's next position; returns the greedy next token [B]. Through a
        runner that token is the runner's buffer, overwritten by the next step (pass it back as the next
        token: nothing is copied)."""
        b = token.shape[0]
        slot = state.next_slot
        if self._runs_fused():
            self.compiled.decode(state, token)
            state.next_slot = slot + 1
            return self.compiled.next_token(b)
        state.key_valid[:, slot] = True
        write_pos = torch.tensor([slot], device=self.device)
        step = StepInputs(
            embeds=self.decoder.embed_tokens(token[:, None]),
            position_ids=state.next_pos.view(1, b, 1).expand(3, b, 1),
            write_pos=write_pos,
            token_type=torch.full((b, 1), GENERATED, device=self.device, dtype=torch.long),
            mask=attention_mask(state.key_valid, write_pos, slot + 1),
            read_len=slot + 1,
        )
        logits = self.decoder.logits(self._run(step, prefill=False)[:, -1])
        state.next_pos = state.next_pos + 1
        state.next_slot = slot + 1
        return logits.argmax(dim=-1)

    def _vision(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
        if self._runs_fused():
            return self.compiled.vision(pixel_values, grid_thw)
        return image_features(self.model, pixel_values, grid_thw)

    def _run(self, step: StepInputs, prefill: bool) -> torch.Tensor:
        if prefill and self._runs_fused():
            return self.compiled.prefill(step)
        return self.decoder.forward(step, self.cache)

    # ----- helpers ----------------------------------------------------------------------------
    def _new_cache(self, kv: KVConfig) -> StaticKVCache:
        d = self.decoder
        validate_kv_config(kv, d.num_layers, d.num_kv_heads)
        self.cache = None  # free the old cache before allocating the new one
        return StaticKVCache.for_text_config(
            self.model.config.get_text_config(),
            batch=self.max_batch_size,
            seq_len=self.max_seq_len,
            dtype=self.dtype,
            device=self.device,
            kv=kv,
        )

    def _compiled_runner(self):
        if self.device.type != "cuda":
            raise UnsupportedOnDevice(
                f"compile=True needs a CUDA device (model is on {self.device}); use compile=False on CPU"
            )
        from vlmq.engine.compiled import CompiledRunner

        return CompiledRunner(self)

    def _chunks(self, prompts: list[Prompt]):
        if not prompts:
            raise VlmqError("no prompts given; pass a non-empty list of vlmq.engine.Prompt")
        for start in range(0, len(prompts), self.max_batch_size):
            yield list(prompts[start : start + self.max_batch_size])

    def _check_length(self, batch: PromptBatch, max_new_tokens: int) -> None:
        need = batch.input_ids.shape[1] + max_new_tokens
        if need > self.max_seq_len:
            raise VlmqError(
                f"prompt ({batch.input_ids.shape[1]} tokens) + max_new_tokens ({max_new_tokens}) "
                f"exceeds max_seq_len {self.max_seq_len}; create the Engine with a larger max_seq_len"
            )

    def _timings(self, watch: Stopwatch, n_steps: int) -> dict[str, float]:
        vision = watch.elapsed_ms("prefill_start", "vision")
        prefill = watch.elapsed_ms("vision", "prefill")
        decode = watch.elapsed_ms("prefill", "done")
        timings = {
            "preprocess_ms": watch.elapsed_ms("start", "encoded"),
            "vision_ms": vision,
            "prefill_ms": prefill,
            "ttft_ms": vision + prefill,
            "decode_ms": decode,
            "decode_steps": float(n_steps),
            "total_ms": watch.elapsed_ms("prefill_start", "done"),
        }
        if n_steps > 0:
            timings["decode_ms_per_token"] = decode / n_steps
        return timings

    def _generation(self, batch: PromptBatch, row: int, tokens: torch.Tensor, timings: dict) -> Generation:
        ids = tokens.tolist()
        for i, tok in enumerate(ids):  # keep the first EOS (as HF generate does), drop the rest
            if tok in self.eos_ids:
                ids = ids[: i + 1]
                break
        text = self.processor.tokenizer.decode(ids, skip_special_tokens=True)
        return Generation(
            text=text,
            token_ids=ids,
            n_prompt_tokens=batch.n_prompt_tokens[row],
            n_visual_tokens=batch.n_visual_tokens[row],
            timings=dict(timings),
        )
