"""Where the parts of a Qwen2-VL-family model live, and what they weigh.

transformers 5.x nests both parts under ``model.model``: ``model.model.language_model`` (text decoder)
and ``model.model.visual`` (vision tower); the LM head is ``model.lm_head``. Module names are therefore
``model.language_model.layers.N.self_attn.q_proj`` etc. The fallbacks below cover a model whose parts
sit one level higher (a bare ``Qwen2VLModel``, or older layouts).
"""

from __future__ import annotations

from torch import nn

from vlmq.errors import VlmqError


def _part(model: nn.Module, attr: str, missing: str) -> nn.Module:
    """``model.model.<attr>`` (transformers 5.x) or ``model.<attr>``; a one-line error otherwise."""
    for owner in (getattr(model, "model", None), model):
        part = getattr(owner, attr, None)
        if isinstance(part, nn.Module):
            return part
    raise VlmqError(f"{type(model).__name__} has no {missing}; pass a Qwen2-VL or Qwen2.5-VL model")


def text_decoder(model: nn.Module) -> nn.Module:
    """The text decoder (embeddings, decoder layers, final norm) — what vlmq quantizes."""
    return _part(model, "language_model", "language_model")


def vision_tower(model: nn.Module) -> nn.Module:
    """The vision tower (ViT blocks and the patch merger) — always left unquantized."""
    return _part(model, "visual", "visual tower")


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The text decoder's transformer layers, in order."""
    return text_decoder(model).layers


def is_decoder_linear(module: nn.Module, fqn: str) -> bool:
    """True for an ``nn.Linear`` inside the text decoder's layers (not the vision tower, not ``lm_head``).

    ``fqn`` is the module's name relative to the model handed to ``quantize_``: the whole model
    (``model.language_model.layers.0.mlp.up_proj``) or the text decoder itself (``layers.0.mlp.up_proj``).
    """
    if not isinstance(module, nn.Linear):
        return False
    parts = fqn.split(".")
    if "visual" in parts or "lm_head" in parts:
        return False
    return "language_model" in parts or parts[0] == "layers"


def tensor_bytes(tensor) -> int:
    """Bytes a tensor really stores. Quantized tensor subclasses (torchao) report their logical dtype
    (bf16) through ``element_size``; their storage is the inner tensors that ``__tensor_flatten__`` names."""
    if tensor is None:
        return 0
    if hasattr(tensor, "__tensor_flatten__"):
        inner_names, _ = tensor.__tensor_flatten__()
        return sum(tensor_bytes(getattr(tensor, name, None)) for name in inner_names)
    return tensor.numel() * tensor.element_size()


def _count(module: nn.Module) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(tensor_bytes(p) for p in params)


def model_summary(loaded) -> dict:
    """Parameter counts and bytes per part plus the config essentials, JSON-able (for reports and ``vlmq models``).

    Shared tensors (tied embeddings / LM head) are counted once in ``total``.
    """
    model = loaded.model
    text_cfg = model.config.get_text_config()
    decoder = text_decoder(model)
    embeddings = decoder.get_input_embeddings()
    head = model.get_output_embeddings()
    parts = {"decoder_layers": decoder.layers, "vision": vision_tower(model), "embeddings": embeddings, "lm_head": head}
    counts = {part: _count(module) if module is not None else (0, 0) for part, module in parts.items()}
    unique = {id(p): p for p in model.parameters()}.values()
    return {
        **{key: getattr(loaded, key) for key in ("name", "family", "source", "random_weights")},
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "params": {**{part: n for part, (n, _) in counts.items()}, "total": sum(p.numel() for p in unique)},
        "bytes": {**{part: b for part, (_, b) in counts.items()}, "total": sum(tensor_bytes(p) for p in unique)},
        "config": {
            "layers": text_cfg.num_hidden_layers,
            "hidden": text_cfg.hidden_size,
            "intermediate": text_cfg.intermediate_size,
            "heads": text_cfg.num_attention_heads,
            "kv_heads": text_cfg.num_key_value_heads,
            "head_dim": head_dim_of(text_cfg),
            "vocab": text_cfg.vocab_size,
            "tied": head is not None and head.weight is embeddings.weight,
            "vision_depth": model.config.vision_config.depth,
        },
    }


def head_dim_of(text_config) -> int:
    """Per-head width of a text config: its ``head_dim`` where set, else hidden_size / attention heads."""
    return getattr(text_config, "head_dim", None) or text_config.hidden_size // text_config.num_attention_heads


def model_class(family: str):
    """The transformers class for a supported ``model_type``."""
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

    return {"qwen2_vl": Qwen2VLForConditionalGeneration, "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}[family]


def config_class(family: str):
    """The transformers config class for a supported ``model_type``."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    return {"qwen2_vl": Qwen2VLConfig, "qwen2_5_vl": Qwen2_5_VLConfig}[family]


# The vision config key that holds the merger's output width, which must equal the text hidden size.
VISION_OUTPUT_KEY = {"qwen2_vl": "hidden_size", "qwen2_5_vl": "out_hidden_size"}
