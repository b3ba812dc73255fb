"""Calibration corpora: built-in multimodal samples, a Hugging Face dataset, or a local folder.

The composition (source, n, languages, image share, sequence length) travels with every result,
because it decides outcomes: the original study traced INT4-AWQ's collapse on translation to an
English-only calibration corpus, and FP8 KV scales calibrated on text alone saturate on visual tokens.
"""

from __future__ import annotations

import pathlib
import random
from dataclasses import dataclass

import torch

from vlmq.engine.inputs import encode_prompts
from vlmq.engine.types import VISUAL, Prompt
from vlmq.errors import VlmqError

# Short questions about the drawn image, written per language (the language mix is the point).
_QUESTIONS = {
    "en": (
        "How many {shape}s are in the picture?",
        "What colour is the largest {shape}?",
        "Describe the image in one sentence.",
        "Is there a {shape} in the top half of the image?",
        "Translate to French: the {shape} is next to the wall.",
    ),
    "de": (
        "Wie viele {shape}e sind auf dem Bild?",
        "Welche Farbe hat die größte Form?",
        "Beschreibe das Bild in einem Satz.",
        "Übersetze ins Englische: Die Form steht neben der Wand.",
    ),
    "fr": (
        "Combien de formes y a-t-il sur l'image ?",
        "De quelle couleur est la plus grande forme ?",
        "Décris l'image en une phrase.",
        "Traduis en anglais : la forme est à côté du mur.",
    ),
    "es": (
        "¿Cuántas figuras hay en la imagen?",
        "¿De qué color es la figura más grande?",
        "Describe la imagen en una frase.",
        "Traduce al inglés: la figura está junto a la pared.",
    ),
    "zh": ("图片里有几个形状？", "最大的形状是什么颜色？", "用一句话描述这张图片。", "翻译成英文：这个形状在墙边。"),
    "ja": ("画像にはいくつの図形がありますか？", "一番大きい図形は何色ですか？", "この画像を一文で説明してください。"),
    "ru": ("Сколько фигур на картинке?", "Какого цвета самая большая фигура?", "Опиши изображение одним предложением."),
}
_SHAPES = ("circle", "square", "triangle")
_COLOURS = ((220, 40, 40), (40, 160, 60), (40, 80, 220), (240, 200, 30), (140, 60, 180), (20, 20, 20))
_TEXT_COLUMNS = ("question", "text", "prompt", "instruction", "caption", "content", "sentence")
_LANGUAGE_COLUMNS = ("language", "lang")


@dataclass(frozen=True)
class CalibrationSet:
    prompts: tuple[Prompt, ...]
    summary: dict  # source, n, languages, image_share, seq_len (+ text_only, seed)


def builtin_languages() -> tuple[str, ...]:
    return tuple(_QUESTIONS)


def load_calibration(
    source: str = "builtin",
    *,
    n: int = 32,
    seq_len: int = 512,
    languages: tuple[str, ...] = ("en",),
    text_only: bool = False,
    seed: int = 0,
) -> CalibrationSet:
    """Load ``n`` calibration prompts; ``text_only`` drops every image (the study's failing setting)."""
    if n <= 0 or seq_len <= 0:
        raise VlmqError(f"calibration needs n > 0 and seq_len > 0 (got n={n}, seq_len={seq_len})")
    languages = tuple(languages)
    if source == "builtin":
        prompts, found_languages = _builtin_prompts(n, languages, seed), languages
    else:
        prompts, found_languages = _external_prompts(source, n, languages, seed)
    if not prompts:
        raise VlmqError(f"calibration set from {source!r} is empty; point it at images/text or use source='builtin'")
    summary = {
        "source": source,
        "n": len(prompts),
        "languages": list(found_languages) if found_languages else None,
        "image_share": sum(p.image is not None for p in prompts) / len(prompts),
        "seq_len": seq_len,
        "text_only": False,
        "seed": seed,
    }
    calib = CalibrationSet(prompts=tuple(prompts), summary=summary)
    return without_images(calib) if text_only else calib


def without_images(calib: CalibrationSet) -> CalibrationSet:
    """The same prompts with every image dropped (the study's failing text-only setting)."""
    prompts = tuple(Prompt(text=p.text, image=None) for p in calib.prompts)
    return CalibrationSet(prompts=prompts, summary={**calib.summary, "image_share": 0.0, "text_only": True})


def _builtin_prompts(n: int, languages: tuple[str, ...], seed: int) -> list[Prompt]:
    unknown = [lang for lang in languages if lang not in _QUESTIONS]
    if unknown or not languages:
        raise VlmqError(
            f"no built-in calibration text for languages {unknown or '()'}; choose from: {', '.join(_QUESTIONS)}"
        )
    rng = random.Random(seed)
    prompts = []
    for i in range(n):
        shape = rng.choice(_SHAPES)
        question = rng.choice(_QUESTIONS[languages[i % len(languages)]]).format(shape=shape)
        prompts.append(Prompt(text=question, image=_draw_shapes(rng, shape)))
    return prompts


def _draw_shapes(rng: random.Random, shape: str):
    """A small synthetic scene: a few coloured shapes on a plain background (no downloads needed)."""
    from PIL import Image, ImageDraw

    width, height = rng.choice((112, 168, 224)), rng.choice((112, 168, 224))
    image = Image.new("RGB", (width, height), tuple(rng.randint(180, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 5)):
        size = rng.randint(12, min(width, height) // 2)
        x, y = rng.randint(0, width - size), rng.randint(0, height - size)
        box, colour = (x, y, x + size, y + size), rng.choice(_COLOURS)
        if shape == "circle":
            draw.ellipse(box, fill=colour)
        elif shape == "square":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([(x, y + size), (x + size // 2, y), (x + size, y + size)], fill=colour)
    return image


def _external_prompts(source: str, n: int, languages: tuple[str, ...], seed: int):
    path = pathlib.Path(source)
    if path.is_file():
        return _text_file_prompts(path, n, seed), None
    if path.is_dir() and not (path / "metadata.jsonl").exists() and not any(path.glob("*.parquet")):
        return _plain_folder_prompts(path, n, seed), None
    return _dataset_prompts(_load_dataset(source, path), n, languages, seed)


def _text_file_prompts(path: pathlib.Path, n: int, seed: int) -> list[Prompt]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(seed).shuffle(lines)
    return [Prompt(text=line) for line in lines[:n]]


def _plain_folder_prompts(path: pathlib.Path, n: int, seed: int) -> list[Prompt]:
    """Images (``*.png|jpg|jpeg``) asked a neutral question, plus every line of ``*.txt`` files."""
    from PIL import Image

    images = sorted(p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    texts = [
        line.strip()
        for f in sorted(path.glob("*.txt"))
        for line in f.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    prompts = [Prompt(text="Describe the image.", image=Image.open(p).convert("RGB")) for p in images]
    prompts += [Prompt(text=t) for t in texts]
    random.Random(seed).shuffle(prompts)
    return prompts[:n]


def _load_dataset(source: str, path: pathlib.Path):
    import datasets

    try:
        if path.is_dir():
            builder = "imagefolder" if (path / "metadata.jsonl").exists() else "parquet"
            loaded = datasets.load_dataset(builder, data_dir=str(path))
        else:
            loaded = datasets.load_dataset(source)
    except Exception as err:  # offline hub, missing files, bad format: one clear line
        raise VlmqError(
            f"cannot load calibration dataset {source!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); use a local folder or 'builtin'"
        ) from err
    return loaded[next(iter(loaded))] if isinstance(loaded, datasets.DatasetDict) else loaded


def _dataset_prompts(dataset, n: int, languages: tuple[str, ...], seed: int):
    columns = dataset.column_names
    text_column = next((c for c in _TEXT_COLUMNS if c in columns), None)
    image_column = next((c for c in columns if type(dataset.features[c]).__name__ == "Image"), None)
    if text_column is None and image_column is None:
        raise VlmqError(
            f"calibration dataset has no image or text column (columns: {', '.join(columns)}); "
            f"add an 'image' or a '{_TEXT_COLUMNS[0]}'/'text' column"
        )
    language_column = next((c for c in _LANGUAGE_COLUMNS if c in columns), None)
    if language_column is not None:
        dataset = dataset.filter(lambda row: row[language_column] in languages)
    rows = dataset.shuffle(seed=seed).select(range(min(n, len(dataset))))
    prompts = [
        Prompt(
            text=row[text_column] if text_column else "Describe the image.",
            image=row[image_column].convert("RGB") if image_column and row[image_column] else None,
        )
        for row in rows
    ]
    return prompts, (languages if language_column is not None else None)


def model_inputs(processor, prompt: Prompt, seq_len: int, device) -> dict:
    """HF forward kwargs for one prompt (the engine's encoder), text cut to ``seq_len`` tokens.

    Image tokens are never cut: a sequence keeps at least everything up to its last visual token.
    """
    batch = encode_prompts(processor, [prompt], device)
    visual = torch.nonzero(batch.token_type[0] == VISUAL)
    keep = max(seq_len, int(visual.max()) + 2 if visual.numel() else 0)
    inputs = batch.hf_inputs()
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        inputs[key] = inputs[key][:, :keep]
    return inputs


@torch.no_grad()
def run_calibration(loaded, calib: CalibrationSet) -> None:
    """Forward every calibration prompt through the model once (observers record what they need)."""
    model = loaded.model
    device = next(model.parameters()).device
    for prompt in calib.prompts:
        if hasattr(model.model, "rope_deltas"):  # Qwen2-VL caches M-RoPE offsets between calls
            model.model.rope_deltas = None
        model(**model_inputs(loaded.processor, prompt, calib.summary["seq_len"], device), use_cache=False)
