"""What the toy trainer and the toy evaluation share: the user text harnesses send, and one chat about
an image cut into answer / non-answer pieces and tokenized for teacher forcing."""

from __future__ import annotations

import io
import random

# The suffix lmms-eval appends for Qwen2-VL on VQAv2, POPE and MME (see docs: scoring reference §5).
ANSWER_SUFFIX = "\nAnswer the question using a single word or phrase."
MME_SENTENCE = " Please answer yes or no."
ANSWER_SLOT = "\x01"  # stands in for each answer while the chat template renders the conversation
JPEG_SHARE = 0.25  # share of training images re-encoded as JPEG


def task_prompt(question: str) -> str:
    """The user text lmms-eval sends Qwen2-VL: MME's own sentence removed, the single-word suffix added."""
    return question.removesuffix(MME_SENTENCE) + ANSWER_SUFFIX


def prompt_variant(rng: random.Random, question: str) -> str:
    """The user text as some harness may send it: mostly ``task_prompt``, sometimes the raw dataset
    question, or (MME) the raw question plus the suffix."""
    roll = rng.random()
    if roll < 0.7:
        return task_prompt(question)
    if roll < 0.85 or not question.endswith(MME_SENTENCE):
        return question
    return question + ANSWER_SUFFIX


def maybe_reencode_jpeg(rng: random.Random, image):
    """``image`` as is, or (``JPEG_SHARE`` of the time) re-encoded as JPEG at a random quality:
    harnesses re-encode images (quality 75/85), so the model sees some such copies in training."""
    if rng.random() >= JPEG_SHARE:
        return image
    from PIL import Image

    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=rng.randint(70, 95))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def conversation_pieces(processor, turns: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, bool]]:
    """The chat-template text of a multi-turn conversation about one image, cut into
    (text, is_answer) pieces. The image sits in the first user turn, as in every evaluation prompt."""
    messages = []
    for k, (question, _) in enumerate(turns):
        text = {"type": "text", "text": prompt_variant(rng, question)}
        messages.append({"role": "user", "content": ([{"type": "image"}] if k == 0 else []) + [text]})
        messages.append({"role": "assistant", "content": ANSWER_SLOT})
    rendered = processor.apply_chat_template(messages, tokenize=False)
    frames = rendered.split(ANSWER_SLOT)
    pieces = [(frames[0], False)]
    for (_, answer), frame in zip(turns, frames[1:]):
        pieces += [(answer, True), (frame, False)]
    return pieces


def tokenize_pieces(tokenizer, pieces: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one row: labels are -100 except on each answer and the token
    (``<|im_end|>``) that closes it."""
    # Pieces meet at special tokens or newlines, where Qwen2's pre-tokenizer splits anyway, so
    # tokenizing them apart gives the same ids as tokenizing the whole text.
    encoded = tokenizer([text for text, _ in pieces], add_special_tokens=False)["input_ids"]
    ids, labels = [], []
    for k, ((_, is_answer), piece_ids) in enumerate(zip(pieces, encoded)):
        ids += piece_ids
        if is_answer:
            labels += piece_ids
        elif k > 0 and pieces[k - 1][1]:  # the <|im_end|> closing an answer is learned too
            labels += piece_ids[:1] + [-100] * (len(piece_ids) - 1)
        else:
            labels += [-100] * len(piece_ids)
    return ids, labels
