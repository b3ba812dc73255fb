"""Models: loading (toy, tiny, architecture presets, folders, hub ids), the offline tiny builder,
the image-only processor and helpers that locate the text decoder and vision tower."""

from vlmq.models.fingerprint import folder_fingerprint, model_fingerprint
from vlmq.models.layout import decoder_layers, is_decoder_linear, model_summary, text_decoder, vision_tower
from vlmq.models.loading import TOY_MODEL_DIR, LoadedModel, cache_dir, list_models, load_model
from vlmq.models.processor import Qwen2_5_VLImageOnlyProcessor, Qwen2VLImageOnlyProcessor
from vlmq.models.tiny import TINY_PRESETS, build_tiny_model
from vlmq.models.tokenizer import CHAT_TEMPLATE, SPECIAL_TOKENS, train_tokenizer

__all__ = [
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "TINY_PRESETS",
    "TOY_MODEL_DIR",
    "LoadedModel",
    "Qwen2VLImageOnlyProcessor",
    "Qwen2_5_VLImageOnlyProcessor",
    "build_tiny_model",
    "cache_dir",
    "decoder_layers",
    "folder_fingerprint",
    "is_decoder_linear",
    "list_models",
    "load_model",
    "model_fingerprint",
    "model_summary",
    "text_decoder",
    "train_tokenizer",
    "vision_tower",
]
