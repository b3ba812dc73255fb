"""A small byte-level BPE tokenizer with Qwen2-VL's special tokens and chat template, built offline.

The real Qwen2 tokenizer cannot be downloaded here, so the tiny models train their own: the same
pre-tokenizer (Qwen2's split regex + byte-level), the same seven special tokens (as ids 0-6) and a chat
template that renders exactly like Qwen2-VL-Instruct's. Everything downstream (processor, engine, tasks)
therefore sees the same token layout as with the real model.
"""

from __future__ import annotations

import json

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2TokenizerFast
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

from vlmq.errors import VlmqError

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

DEFAULT_VOCAB_SIZE = 512

# Renders like the public Qwen2-VL-Instruct template (default system turn, vision placeholders,
# optional "Picture N: " ids, generation prompt).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A small built-in corpus in the style of VQA prompts and answers, English plus a few other
# languages so that multilingual text does not fall apart into single bytes.
BUILTIN_CORPUS = (
    "What is in the image? Answer the question using a single word or phrase.",
    "Is there a dog in the image? Please answer yes or no.",
    "Is there a cat in the image? Please answer yes or no.",
    "How many people are in the picture? Answer with a number.",
    "What color is the car? The car is red.",
    "What color is the sky? The sky is blue.",
    "What is the man holding? He is holding an umbrella.",
    "What sport is being played? Tennis. Baseball. Soccer. Basketball.",
    "Where is the bus? The bus is on the street next to the building.",
    "Is this a kitchen or a bathroom? This is a kitchen with a table and two chairs.",
    "Describe the image in detail. A woman is riding a bicycle along the river in the morning.",
    "Yes. No. Yes. No. One, two, three, four, five, six, seven, eight, nine, ten.",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 10 100 2024",
    "Is there a traffic light in the image? Is there a person in the image? Is there a chair?",
    "Which animal is larger, the horse or the sheep? The horse.",
    "What time is shown on the clock? It is ten past three.",
    "You are a helpful assistant. user assistant system",
    "Qu'y a-t-il sur l'image ? Un chat noir est assis sur la table.",
    "Was ist auf dem Bild? Ein Hund spielt im Park mit einem Ball.",
    "¿Qué hay en la imagen? Un coche rojo delante de la casa.",
    "图片里有什么？一只猫坐在桌子上。请用一个词回答。",
    "画像には何がありますか？犬が公園で遊んでいます。",
    "Что на картинке? Собака играет в парке.",
)


def train_tokenizer(
    corpus: list[str] | tuple[str, ...] | None = None, *, vocab_size: int = DEFAULT_VOCAB_SIZE
) -> Qwen2TokenizerFast:
    """Train a byte-level BPE on ``corpus`` (default: the built-in VQA-style corpus) and wrap it.

    Deterministic: the same corpus and vocab size give the same vocabulary and merges.
    """
    texts = list(BUILTIN_CORPUS if corpus is None else corpus)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise VlmqError("tokenizer corpus must be a non-empty list of strings; pass corpus=['...', ...] or None")
    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise VlmqError(f"tokenizer vocab_size {vocab_size} is too small; use at least {len(SPECIAL_TOKENS) + 256}")
    bpe = _empty_qwen2_style_bpe()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    return wrap_tokenizer(bpe)


def _empty_qwen2_style_bpe() -> Tokenizer:
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    return bpe


def wrap_tokenizer(bpe: Tokenizer) -> Qwen2TokenizerFast:
    """Wrap a trained ``tokenizers.Tokenizer`` as the transformers Qwen2 class (saves as ``Qwen2Tokenizer``)."""
    # Qwen2TokenizerFast wants merges as tuples; tokenizers serialises them as pairs (or "a b" strings).
    raw_merges = json.loads(bpe.to_str())["model"]["merges"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in raw_merges]
    tok = Qwen2TokenizerFast(
        vocab=bpe.get_vocab(),
        merges=merges,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        chat_template=CHAT_TEMPLATE,
    )
    others = [t for t in SPECIAL_TOKENS if t not in (tok.eos_token, tok.pad_token)]
    tok.add_special_tokens({"additional_special_tokens": others})
    _check_special_ids(tok)
    return tok


def special_token_ids(tok) -> dict[str, int]:
    """Map each Qwen2-VL special token to its id in ``tok``."""
    return {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}


def special_token_config(token_ids: dict[str, int]) -> tuple[dict, dict]:
    """The config fields that name the special tokens: (text_config fields, top-level fields)."""
    text = {
        "bos_token_id": token_ids["<|endoftext|>"],
        "eos_token_id": token_ids["<|im_end|>"],
        "pad_token_id": token_ids["<|endoftext|>"],
    }
    vision = {
        "image_token_id": token_ids["<|image_pad|>"],
        "video_token_id": token_ids["<|video_pad|>"],
        "vision_start_token_id": token_ids["<|vision_start|>"],
        "vision_end_token_id": token_ids["<|vision_end|>"],
    }
    return text, vision


def _check_special_ids(tok) -> None:
    ids = special_token_ids(tok)
    if list(ids.values()) != list(range(len(SPECIAL_TOKENS))):
        raise VlmqError(
            f"tokenizer special tokens are not ids 0-6 ({ids}); rebuild it with vlmq.models.train_tokenizer"
        )
