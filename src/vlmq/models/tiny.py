"""Build small Qwen2-VL models offline: trained BPE tokenizer, image-only processor, random weights.

``build_tiny_model(out_dir)`` writes a complete model folder (config, weights, tokenizer, chat template,
processor config) that loads like a hub checkpoint. Same seed and corpus → bit-identical weights and
identical tokenizer. Used by tests, by ``load_model("tiny")`` and as the base of the trained toy model.
"""

from __future__ import annotations

import copy
import pathlib
from dataclasses import dataclass, replace

import torch

from vlmq.errors import VlmqError
from vlmq.models.layout import VISION_OUTPUT_KEY, config_class, model_class
from vlmq.models.processor import PROCESSOR_CLASSES, make_image_processor, save_processor
from vlmq.models.progress import quiet_progress_bars
from vlmq.models.tokenizer import DEFAULT_VOCAB_SIZE, SPECIAL_TOKENS, special_token_config, train_tokenizer

# Test-friendly pixel budget: at most 448x448 pixels = 256 visual tokens per image.
TINY_MIN_PIXELS = 56 * 56
TINY_MAX_PIXELS = 448 * 448


@dataclass(frozen=True)
class TinyPreset:
    """Sizes of one tiny model (text decoder and vision tower) and its family."""

    description: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vision_depth: int
    vision_embed: int
    vision_heads: int
    vision_mlp_ratio: int = 2
    family: str = "qwen2_vl"  # "qwen2_5_vl": windowed vision attention, SwiGLU vision MLP


# name: description, text decoder (layers, hidden, heads, kv_heads, intermediate), vision tower (depth, embed, heads)
_TINY = TinyPreset("for unit tests", 2, 64, 4, 2, 128, 2, 64, 4)
TINY_PRESETS = {
    "tiny": _TINY,
    "mid": TinyPreset("for integration tests and CPU demos", 4, 256, 8, 4, 688, 4, 128, 4),
    "small": TinyPreset("for CPU speed checks", 8, 512, 8, 4, 1376, 8, 256, 8),
    "qwen2.5": replace(_TINY, description="Qwen2.5-VL layout, for unit tests", family="qwen2_5_vl"),
}


def mrope_section_for(head_dim: int) -> list[int]:
    """Split head_dim/2 rotary frequencies over (time, height, width) in Qwen2-VL's 16:24:24 proportions."""
    if head_dim % 2:
        raise VlmqError(f"head_dim {head_dim} is odd; choose hidden_size / num_attention_heads even")
    half = head_dim // 2
    spatial = half * 3 // 8
    return [half - 2 * spatial, spatial, spatial]


def tiny_config_dict(
    preset: str, token_ids: dict[str, int], vocab_size: int, config_overrides: dict | None = None
) -> dict:
    """The nested config kwargs for a tiny preset, with ``config_overrides`` merged in.

    ``config_overrides`` holds top-level keys and/or ``text_config`` / ``vision_config`` dicts.
    Derived fields (the vision merger's output width = text hidden size, ``mrope_section`` from head_dim)
    follow the overridden sizes; an override that contradicts them raises VlmqError.
    """
    p = _tiny_preset(preset)
    text_ids, special = special_token_config(token_ids)
    cfg = {
        "text_config": {
            "vocab_size": vocab_size,
            "hidden_size": p.hidden,
            "intermediate_size": p.intermediate,
            "num_hidden_layers": p.layers,
            "num_attention_heads": p.heads,
            "num_key_value_heads": p.kv_heads,
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-6,
            **text_ids,
        },
        "vision_config": _tiny_vision_config(p),
        **special,
        "tie_word_embeddings": False,
    }
    return _merge_overrides(cfg, config_overrides or {}, p.family)


def _tiny_vision_config(p: TinyPreset) -> dict:
    if p.family == "qwen2_vl":
        return {
            "depth": p.vision_depth,
            "embed_dim": p.vision_embed,
            "num_heads": p.vision_heads,
            "mlp_ratio": p.vision_mlp_ratio,
        }
    # Qwen2.5-VL: windowed attention everywhere except the last block (the real model: every 8th block).
    return {
        "depth": p.vision_depth,
        "hidden_size": p.vision_embed,
        "num_heads": p.vision_heads,
        "intermediate_size": p.vision_embed * p.vision_mlp_ratio,
        "window_size": 112,
        "fullatt_block_indexes": [p.vision_depth - 1],
    }


def tiny_config(preset: str, config_overrides: dict | None = None, vocab_size: int = DEFAULT_VOCAB_SIZE):
    """The transformers config a tiny build would use (special tokens at ids 0-6), without building anything."""
    ids = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    try:
        return config_class(_tiny_preset(preset).family)(**tiny_config_dict(preset, ids, vocab_size, config_overrides))
    except (TypeError, ValueError) as err:
        raise VlmqError(f"invalid tiny model config ({err}); fix config_overrides") from err


def _merge_overrides(cfg: dict, overrides: dict, family: str) -> dict:
    cfg = copy.deepcopy(cfg)
    for key, value in overrides.items():
        if key in ("text_config", "vision_config"):
            if not isinstance(value, dict):
                raise VlmqError(
                    f"config_overrides['{key}'] must be a dict of config fields, got {type(value).__name__}"
                )
            cfg[key].update(value)
        else:
            cfg[key] = value
    _derive_rope(cfg["text_config"], "rope_parameters" in overrides.get("text_config", {}))
    # The vision merger projects into the text embedding space.
    output_key, hidden = VISION_OUTPUT_KEY[family], cfg["text_config"]["hidden_size"]
    if overrides.get("vision_config", {}).get(output_key, hidden) != hidden:
        raise VlmqError(
            f"vision_config.{output_key} must equal text_config.hidden_size ({hidden}); "
            f"drop it from config_overrides (it is derived)"
        )
    cfg["vision_config"][output_key] = hidden
    return cfg


def _derive_rope(text: dict, explicit: bool) -> None:
    if text["hidden_size"] % text["num_attention_heads"]:
        raise VlmqError(
            f"hidden_size {text['hidden_size']} is not divisible by num_attention_heads "
            f"{text['num_attention_heads']}; change config_overrides"
        )
    head_dim = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
    if not explicit:
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 1e6}
    text["rope_parameters"].setdefault("mrope_section", mrope_section_for(head_dim))
    section = text["rope_parameters"]["mrope_section"]
    if sum(section) != head_dim // 2:
        raise VlmqError(
            f"mrope_section {section} must sum to head_dim/2 = {head_dim // 2}; "
            "fix config_overrides['text_config']['rope_parameters']"
        )


def _tiny_preset(preset: str) -> TinyPreset:
    if preset not in TINY_PRESETS:
        raise VlmqError(f"unknown tiny preset '{preset}'; choose from: {', '.join(TINY_PRESETS)}")
    return TINY_PRESETS[preset]


def build_tiny_model(
    out_dir,
    *,
    preset: str = "tiny",
    seed: int = 0,
    corpus: list[str] | None = None,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    config_overrides: dict | None = None,
) -> pathlib.Path:
    """Build a tokenizer, image-only processor and random-weight Qwen2-VL (or Qwen2.5-VL, for the
    ``"qwen2.5"`` preset) model and save them to ``out_dir``.

    The tokenizer is trained on ``corpus`` (default: a built-in VQA-style corpus). Weights are float32,
    drawn under ``seed``. Returns the folder path.
    """

    out = pathlib.Path(out_dir)
    family = _tiny_preset(preset).family
    tokenizer = train_tokenizer(corpus, vocab_size=vocab_size)
    processor = PROCESSOR_CLASSES[family](
        image_processor=make_image_processor(TINY_MIN_PIXELS, TINY_MAX_PIXELS),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
    )
    # The tokenizer puts the special tokens at ids 0-6, which is what tiny_config assumes.
    config = tiny_config(preset, config_overrides, vocab_size=len(tokenizer))
    model = _seeded_model(model_class(family), config, seed)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    with quiet_progress_bars():
        model.save_pretrained(out)
    save_processor(processor, out)
    return out


def _seeded_model(cls, config, seed: int):
    # A private generator state so building a model never disturbs the caller's RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config)
