"""Prompts → model inputs: Qwen2-VL chat formatting, image processing, left-padded batches."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vlmq.engine.types import PADDING, VISUAL, Prompt
from vlmq.errors import VlmqError


@dataclass
class PromptBatch:
    input_ids: torch.Tensor  # [B, T], left-padded
    attention_mask: torch.Tensor  # [B, T], 0 on padding
    token_type: torch.Tensor  # [B, T]: 0 text, 1 visual, -1 padding
    mm_token_type_ids: torch.Tensor  # [B, T] as the processor returns it (HF's M-RoPE needs it)
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None
    n_prompt_tokens: list[int]
    n_visual_tokens: list[int]
    host: PromptBatch | None = None  # the same batch on the CPU (host-side work reads it without a device sync)

    def hf_inputs(self) -> dict:
        """The batch as keyword arguments of the transformers model's ``forward`` / ``generate`` (image entries
        only where the batch has images)."""
        inputs = {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "mm_token_type_ids": self.mm_token_type_ids,
        }
        if self.pixel_values is not None:
            inputs.update(pixel_values=self.pixel_values, image_grid_thw=self.image_grid_thw)
        return inputs


def chat_text(processor, prompt: Prompt) -> str:
    """The prompt rendered by the model's chat template, with the assistant turn opened."""
    content = ([{"type": "image"}] if prompt.image is not None else []) + [{"type": "text", "text": prompt.text}]
    messages = [{"role": "user", "content": content}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def encode_prompts(processor, prompts: list[Prompt], device: torch.device) -> PromptBatch:
    """Tokenize and preprocess a batch; rows are left-padded so every row ends at the same index."""
    if not prompts:
        raise VlmqError("no prompts given; pass a non-empty list of vlmq.engine.Prompt")
    for p in prompts:
        if not isinstance(p, Prompt):
            raise VlmqError(f"expected vlmq.engine.Prompt, got {type(p).__name__}; wrap inputs as Prompt(text, image)")
    texts = [chat_text(processor, p) for p in prompts]
    images = [p.image.convert("RGB") for p in prompts if p.image is not None]
    tokenizer = processor.tokenizer
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = processor(text=texts, images=images or None, padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = side
    input_ids, attention_mask = enc["input_ids"], enc["attention_mask"]
    mm_types = enc.get("mm_token_type_ids")
    if mm_types is None:  # older processors: derive it the way HF's docs say
        mm_types = (input_ids == processor.image_token_id).int()
    token_type = torch.where(attention_mask.bool(), mm_types.long(), torch.full_like(input_ids, PADDING))
    host = PromptBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        token_type=token_type,
        mm_token_type_ids=mm_types,
        pixel_values=enc.get("pixel_values"),
        image_grid_thw=enc.get("image_grid_thw"),
        n_prompt_tokens=attention_mask.sum(1).tolist(),
        n_visual_tokens=(token_type == VISUAL).sum(1).tolist(),
    )
    moved = {
        name: None if getattr(host, name) is None else getattr(host, name).to(device)
        for name in ("input_ids", "attention_mask", "token_type", "mm_token_type_ids", "pixel_values", "image_grid_thw")
    }
    return PromptBatch(**moved, n_prompt_tokens=host.n_prompt_tokens, n_visual_tokens=host.n_visual_tokens, host=host)
