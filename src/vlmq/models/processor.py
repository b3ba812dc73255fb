"""Image-only processors for Qwen2-VL and Qwen2.5-VL that work without torchvision.

transformers' ``Qwen2VLProcessor`` eagerly builds a video processor, which needs torchvision
(transformers issue #48558); CPU machines have none. ``ProcessorMixin`` reads its sub-processors from the
``__init__`` signature, so a subclass whose ``__init__`` omits ``video_processor`` loads and runs with the
image processor alone. These classes also load folders whose config says ``Qwen2VLProcessor``.
Never load processors with ``AutoProcessor``: on such a folder it silently returns a bare tokenizer.
"""

from __future__ import annotations

from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLProcessor

# The image processor's defaults (patch 14, merge 2): 4 .. 1280 visual tokens per image.
DEFAULT_MIN_PIXELS = 56 * 56
DEFAULT_MAX_PIXELS = 28 * 28 * 1280


class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
    """``Qwen2VLProcessor`` without the video processor (images and text only)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` without the video processor (images and text only)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


PROCESSOR_CLASSES = {"qwen2_vl": Qwen2VLImageOnlyProcessor, "qwen2_5_vl": Qwen2_5_VLImageOnlyProcessor}


def make_image_processor(min_pixels: int | None = None, max_pixels: int | None = None) -> Qwen2VLImageProcessor:
    """The Qwen2-VL image processor (PIL backend where torchvision is absent) with a pixel budget."""
    return Qwen2VLImageProcessor(min_pixels=min_pixels or DEFAULT_MIN_PIXELS,
                                 max_pixels=max_pixels or DEFAULT_MAX_PIXELS)


def set_pixel_budget(processor, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Change how many pixels (hence visual tokens) an image may take, in place."""
    image_processor = processor.image_processor
    if min_pixels is not None:
        image_processor.min_pixels = min_pixels
    if max_pixels is not None:
        image_processor.max_pixels = max_pixels
    # transformers 5.x reads the budget from ``size``; keep both spellings consistent.
    size = dict(getattr(image_processor, "size", None) or {})
    if min_pixels is not None:
        size["shortest_edge"] = min_pixels
    if max_pixels is not None:
        size["longest_edge"] = max_pixels
    if size:
        image_processor.size = size
