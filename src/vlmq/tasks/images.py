"""Image decoding and the lmms-eval JPEG re-encoding step.

lmms-eval's ``qwen2_vl`` model turns every PIL image into a JPEG data URL before the processor sees
it (``models/model_utils/media_encoder.py``: ``convert("RGB")``, ``save(format="JPEG", quality=q)``;
quality 85 from v0.7, PIL's default 75 in v0.3.0-v0.6.1), and ``qwen_vl_utils`` decodes it back and
converts to RGB. Quantized-model accuracy deltas compare only under identical preprocessing, so the
quality used is recorded with every sample (``meta["image_preprocess"]``) and every metric record.
The pixel cap (``max_pixels``) belongs to the processor (`vlmq.models`), not here.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from vlmq.errors import VlmqError


def preprocess_label(jpeg_quality: int | None) -> str:
    """A short, stable name of the preprocessing: ``"none"`` or ``"jpeg_q85"``."""
    check_jpeg_quality(jpeg_quality)
    return "none" if jpeg_quality is None else f"jpeg_q{jpeg_quality}"


def check_jpeg_quality(jpeg_quality: int | None) -> None:
    if jpeg_quality is not None and not (isinstance(jpeg_quality, int) and 1 <= jpeg_quality <= 100):
        raise VlmqError(
            f"jpeg_quality must be an integer from 1 to 100, got {jpeg_quality!r}; "
            "use 85 (lmms-eval >= 0.7), 75 (older lmms-eval) or leave it unset"
        )


def decode_image(raw) -> Image.Image:
    """A fully loaded RGB PIL image from a datasets ``Image(decode=False)`` cell, bytes or a PIL image.

    Raises ``OSError``/``ValueError`` for unreadable or truncated data (the caller turns that into a
    failed sample rather than a crash).
    """
    if isinstance(raw, Image.Image):
        image = raw
    else:
        data, path = _bytes_and_path(raw)
        image = Image.open(io.BytesIO(data)) if data is not None else Image.open(path)
    image.load()  # decode now: a truncated file fails here, not inside the engine
    return image.convert("RGB")


def _bytes_and_path(raw) -> tuple[bytes | None, str | None]:
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw), None
    if isinstance(raw, dict) and (raw.get("bytes") is not None or raw.get("path")):
        return raw.get("bytes"), raw.get("path")
    raise ValueError(f"no image data in cell of type {type(raw).__name__}")


def reencode_jpeg(image: Image.Image, quality: int) -> Image.Image:
    """The image as lmms-eval hands it to Qwen2-VL: RGB, JPEG at ``quality``, decoded back to RGB."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    reloaded = Image.open(buffer)
    reloaded.load()
    return reloaded.convert("RGB")


def prepare_image(raw, jpeg_quality: int | None) -> tuple[Image.Image | None, str | None]:
    """(image, None) on success, (None, reason) when the image cannot be read."""
    try:
        image = decode_image(raw)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as err:
        return None, f"unreadable image: {type(err).__name__}: {err}"
    if jpeg_quality is not None:
        image = reencode_jpeg(image, jpeg_quality)
    return image, None
