"""Architecture presets: the real Qwen2-VL / Qwen2.5-VL shapes with random weights, for speed-only runs.

Shapes come from the published ``config.json`` of each hub checkpoint (values below). Weights are drawn
like trained ones (linears and embeddings N(0, 0.02), norms 1, biases 0) so quantizers see sane ranges;
accuracy numbers on these models mean nothing. The tokenizer is the tiny builder's (ids 0-6 are the
special tokens, so the config's vision token ids point there), the vocab size is the real one: the extra
embedding rows are never produced by the tokenizer but cost the same memory and time as in the real model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vlmq.errors import VlmqError
from vlmq.models.layout import VISION_OUTPUT_KEY, config_class, model_class
from vlmq.models.processor import PROCESSOR_CLASSES, make_image_processor
from vlmq.models.tokenizer import special_token_config, special_token_ids, train_tokenizer

PRESET_SEED = 0


@dataclass(frozen=True)
class ArchPreset:
    """One published architecture: text and vision config fields as in its hub config.json."""

    family: str  # "qwen2_vl" | "qwen2_5_vl"
    hub_id: str
    text: dict
    vision: dict
    tie_word_embeddings: bool


_QWEN2_VL_VISION = {
    "depth": 32,
    "embed_dim": 1280,
    "num_heads": 16,
    "mlp_ratio": 4,
    "in_channels": 3,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "hidden_act": "quick_gelu",
}
_QWEN2_5_VL_VISION = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "in_channels": 3,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "tokens_per_second": 2,
    "hidden_act": "silu",
}
_VISION = {"qwen2_vl": _QWEN2_VL_VISION, "qwen2_5_vl": _QWEN2_5_VL_VISION}
_MROPE = {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}


def _text(hidden, intermediate, layers, heads, kv_heads, vocab, max_pos, max_window_layers) -> dict:
    return {
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "use_sliding_window": False,
        "sliding_window": 32768,
        "max_window_layers": max_window_layers,
        "rope_parameters": dict(_MROPE),
    }


def _arch_preset(family: str, checkpoint: str, tied: bool, text_sizes: tuple) -> ArchPreset:
    text = _text(*text_sizes)
    # The vision merger projects into the text hidden size.
    vision = {**_VISION[family], VISION_OUTPUT_KEY[family]: text["hidden_size"]}
    return ArchPreset(family, f"Qwen/{checkpoint}-Instruct", text, vision, tie_word_embeddings=tied)


# name: family, hub checkpoint (Qwen/<name>-Instruct), tie_word_embeddings, text sizes (hidden, intermediate,
# layers, heads, kv_heads, vocab, max_position_embeddings, max_window_layers)
ARCH_PRESETS = {
    name: _arch_preset(*row)
    for name, *row in (
        ("qwen2-vl-2b", "qwen2_vl", "Qwen2-VL-2B", True, (1536, 8960, 28, 12, 2, 151936, 32768, 28)),
        ("qwen2-vl-7b", "qwen2_vl", "Qwen2-VL-7B", False, (3584, 18944, 28, 28, 4, 152064, 32768, 28)),
        ("qwen2.5-vl-3b", "qwen2_5_vl", "Qwen2.5-VL-3B", True, (2048, 11008, 36, 16, 2, 151936, 128000, 70)),
        ("qwen2.5-vl-7b", "qwen2_5_vl", "Qwen2.5-VL-7B", False, (3584, 18944, 28, 28, 4, 152064, 128000, 28)),
    )
}


def preset_config(name: str, token_ids: dict[str, int] | None = None):
    """The transformers config of preset ``name``; vision/special token ids from ``token_ids`` if given."""
    preset = _preset(name)
    text_ids, special = special_token_config(token_ids) if token_ids is not None else ({}, {})
    return config_class(preset.family)(
        text_config={**preset.text, **text_ids},
        vision_config=dict(preset.vision),
        tie_word_embeddings=preset.tie_word_embeddings,
        **special,
    )


def _preset(name: str) -> ArchPreset:
    if name not in ARCH_PRESETS:
        raise VlmqError(f"unknown architecture preset '{name}'; choose from: {', '.join(ARCH_PRESETS)}")
    return ARCH_PRESETS[name]


def instantiate_on_meta(name: str):
    """The preset's model on the meta device: shapes and module names only, no memory, instant."""
    return meta_model(preset_config(name))


def meta_model(config, dtype: torch.dtype = torch.bfloat16):
    """A Qwen2-VL-family model of ``config`` on the meta device (parameters in ``dtype``; buffers keep
    transformers' dtype, e.g. float32 rotary tables)."""

    with torch.device("meta"):
        return model_class(config.model_type)._from_config(config, dtype=dtype)


def build_preset_model(name: str, *, device: torch.device, dtype: torch.dtype = torch.bfloat16):
    """Random-weight model of preset ``name`` on ``device`` in ``dtype``, plus its (tiny-tokenizer) processor."""
    preset = _preset(name)
    tokenizer = train_tokenizer()
    ids = special_token_ids(tokenizer)
    # Build on meta, then allocate on the target device and draw weights there: no float32 copy on CPU.
    model = meta_model(preset_config(name, ids), dtype)
    model.to_empty(device=device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(PRESET_SEED)
        init_like_trained(model)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    # The image processor gets the published checkpoint's pixel budget, so images cost as many visual tokens.
    processor = PROCESSOR_CLASSES[preset.family](
        make_image_processor(), tokenizer, chat_template=tokenizer.chat_template
    )
    return model.eval(), processor


# Drawing 2 B normals one by one takes ~20 s on two CPU cores; copying from a pool of N(0, std) samples at
# random offsets gives every weight the same distribution at memcpy speed (values repeat between tensors,
# which is harmless for speed runs and quantizer ranges).
_POOL_SIZE = 1 << 24


def init_like_trained(model) -> None:
    """Fill linear/conv/embedding weights with N(0, initializer_range) samples and zero their biases; let
    transformers initialise everything else (norms to 1, rotary tables, ...). Uses the global RNG."""
    std = getattr(model.config.get_text_config(), "initializer_range", None) or 0.02
    first = next(model.parameters())
    # The pool is in the parameters' dtype so each fill is a plain memcpy, not a conversion.
    pool = torch.randn(2 * _POOL_SIZE, device=first.device).mul_(std).to(first.dtype)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding, nn.Conv2d, nn.Conv3d)):
            with torch.no_grad():
                _fill_from_pool(module.weight, pool)
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()
            module._is_hf_initialized = True  # initialize_weights skips flagged modules
    model.initialize_weights()
    model.tie_weights()


def _fill_from_pool(weight: torch.Tensor, pool: torch.Tensor) -> None:
    flat = weight.view(-1)
    for start in range(0, flat.numel(), _POOL_SIZE):
        count = min(_POOL_SIZE, flat.numel() - start)
        offset = int(torch.randint(_POOL_SIZE, (1,)))
        flat[start : start + count].copy_(pool[offset : offset + count].to(flat.dtype))


def describe_preset(name: str) -> str:
    """One line for ``vlmq models``: sizes and where the shapes come from."""
    preset = _preset(name)
    return f"architecture preset, random weights: {describe_config(preset_config(name))} (shapes of {preset.hub_id})"


def describe_config(config) -> str:
    """Layers, hidden size, heads and parameter count of a Qwen2-VL-family config (counted on meta, instantly)."""
    model = meta_model(config)
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    size = f"{params / 1e9:.2f} B" if params >= 1e9 else f"{params / 1e6:.2f} M"
    text = config.get_text_config()
    return (
        f"{text.num_hidden_layers} layers, hidden {text.hidden_size}, "
        f"{text.num_attention_heads}/{text.num_key_value_heads} heads, {size} params"
    )
