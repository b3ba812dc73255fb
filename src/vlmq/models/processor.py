"""Image-only processors for Qwen2-VL and Qwen2.5-VL that work without torchvision.

transformers' ``Qwen2VLProcessor`` eagerly builds a video processor, which needs torchvision
(transformers issue #48558); CPU machines have none. ``ProcessorMixin`` reads its sub-processors from the
``__init__`` signature, so a subclass whose ``__init__`` omits ``video_processor`` loads and runs with the
image processor alone. These classes also load folders whose config says ``Qwen2VLProcessor``.
Never load processors with ``AutoProcessor``: on a folder whose config names the subclass it silently
returns a bare tokenizer (``save_processor`` therefore writes the upstream class name).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLProcessor

from vlmq.errors import VlmqError

# The pixel budget in the published Qwen2-VL / Qwen2.5-VL preprocessor_config.json (patch 14, merge 2):
# 4 .. 16384 visual tokens per image. (transformers' own default max is lower: 28 * 28 * 1280.)
DEFAULT_MIN_PIXELS = 3136
DEFAULT_MAX_PIXELS = 12845056


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """``Qwen2VLProcessor`` without the video processor (images and text only)."""

    upstream_class_name = "Qwen2VLProcessor"

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` without the video processor (images and text only)."""

    upstream_class_name = "Qwen2_5_VLProcessor"

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


PROCESSOR_CLASSES = {"qwen2_vl": Qwen2VLImageOnlyProcessor, "qwen2_5_vl": Qwen2_5_VLImageOnlyProcessor}


def make_image_processor(min_pixels: int | None = None, max_pixels: int | None = None) -> Qwen2VLImageProcessor:
    """The Qwen2-VL image processor (PIL backend where torchvision is absent) with a pixel budget
    (default: the published checkpoints' budget)."""
    return Qwen2VLImageProcessor(
        min_pixels=min_pixels or DEFAULT_MIN_PIXELS, max_pixels=max_pixels or DEFAULT_MAX_PIXELS
    )


def set_pixel_budget(processor, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Change how many pixels (hence visual tokens) an image may take, in place."""
    for value, label in ((min_pixels, "min_pixels"), (max_pixels, "max_pixels")):
        if value is not None and (not isinstance(value, int) or value < 28 * 28):
            raise VlmqError(
                f"{label}={value!r} is too small; pass an int of at least {28 * 28} (one 28x28 merged patch)"
            )
    if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
        raise VlmqError(f"min_pixels {min_pixels} exceeds max_pixels {max_pixels}; pass min_pixels <= max_pixels")
    image_processor = processor.image_processor
    changes = {k: v for k, v in (("shortest_edge", min_pixels), ("longest_edge", max_pixels)) if v is not None}
    # transformers 5.x reads the budget from ``size`` (a dict or a SizeDict dataclass); replace, never mutate,
    # so a shared default object is left alone.
    size = image_processor.size
    if dataclasses.is_dataclass(size):
        image_processor.size = dataclasses.replace(size, **changes)
    else:
        image_processor.size = {**size, **changes}
    # Older releases also keep the budget as plain attributes; keep them in step where they exist.
    for attr, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value is not None and getattr(image_processor, attr, None) is not None:
            setattr(image_processor, attr, value)


def save_processor(processor, out_dir) -> None:
    """Save like a hub checkpoint: the configs name the upstream processor class, not the image-only subclass.

    That keeps saved folders interchangeable with real ones, and makes ``AutoProcessor`` fail loudly
    without torchvision instead of silently returning a bare tokenizer for an unknown class name.
    """
    out = pathlib.Path(out_dir)
    processor.save_pretrained(out)
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = out / name
        if path.is_file():
            data = json.loads(path.read_text())
            if "processor_class" in data:
                data["processor_class"] = processor.upstream_class_name
                path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
