"""The "shapes" benchmarks: procedural images of coloured shapes, with questions in the exact schemas
of lmms-lab VQAv2, POPE and MME, deterministic from a seed.

Why: these machines cannot download Qwen2-VL or its datasets. A toy VLM trained on this data
(``vlmq.toy``) answers questions about images for real, so quantization effects show up in accuracy.

A scene is 1-4 shapes (circle/square/triangle/star, six colours, two sizes), each in its own cell of
five (left, right, top, bottom, center), optionally with a short black word in a free cell (OCR).
No two shapes in a scene share (colour, shape), so "the red circle" always names one shape.
Every question needs the image: answers are balanced over the scene's random content.
"""

from __future__ import annotations

import functools
import math
import random
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

from vlmq.errors import VlmqError

IMAGE_SIZE = 112  # 8x8 patches of 14 px -> 16 visual tokens after the 2x2 merge
# The processor's normalisation mean (CLIP's) as a colour: background patches become ~0 input, so the
# shapes carry the signal. On a white background every patch embedding shares one large component,
# which left a freshly initialised model unable to tell visual tokens apart.
BACKGROUND = (123, 117, 104)
COLORS = {
    "red": (220, 30, 30),
    "green": (30, 160, 40),
    "blue": (30, 70, 225),
    "yellow": (235, 205, 20),
    "purple": (140, 40, 175),
    "orange": (245, 135, 20),
}
SHAPES = ("circle", "square", "triangle", "star")
# Skewed frequencies so that POPE's "popular" negatives differ from random ones.
COLOR_WEIGHTS = (0.28, 0.2, 0.16, 0.14, 0.12, 0.1)
SHAPE_WEIGHTS = (0.34, 0.26, 0.22, 0.18)
SIZES = {"small": 8, "large": 14}  # radius in px
CELLS = {"left": (22, 56), "right": (90, 56), "top": (56, 22), "bottom": (56, 90), "center": (56, 56)}
PLACE_PHRASE = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "center": "in the center",
}
WORDS = ("cat", "dog", "sun", "box", "map", "cup", "hat", "pen")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five")
MME_SUBTASKS = ("existence", "count", "position", "color", "OCR", "commonsense_reasoning")
POPE_SPLITS = ("random", "popular", "adversarial")
MME_SUFFIX = " Please answer yes or no."
KINDS = ("vqa", "pope", "mme")
# Every POPE "object" in one fixed order: the tie-break of every ranking below. Never iterate a set of
# strings where order matters: its order follows the per-process string hash (PYTHONHASHSEED).
CATEGORIES = tuple(f"{c} {s}" for c in COLORS for s in SHAPES)
_CATEGORY_INDEX = {cat: i for i, cat in enumerate(CATEGORIES)}


@dataclass(frozen=True)
class Shape:
    shape: str
    color: str
    size: str
    cell: str

    @property
    def category(self) -> str:  # the POPE "object": "red circle"
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    word: str | None = None
    word_cell: str | None = None
    jitter: tuple[tuple[int, int], ...] = ()  # per shape, then the word: pixel offsets from the cell centre

    def categories(self) -> tuple[str, ...]:
        """The scene's objects ("red circle", ...) in the fixed order of ``CATEGORIES``."""
        present = {s.category for s in self.shapes}
        return tuple(cat for cat in CATEGORIES if cat in present)

    def count(self, attr: str | None = None, value: str | None = None) -> int:
        return sum(1 for s in self.shapes if attr is None or getattr(s, attr) == value)


@dataclass(frozen=True)
class QA:
    """One question about a scene: ``answer`` is what the model should say; ``humans`` the ten
    human-style answer strings (VQA only); ``qtype`` the question family."""

    question: str
    answer: str
    qtype: str
    humans: tuple[str, ...] = ()


# ---------------------------------------------------------------- scenes and images


def sample_scene(rng: random.Random, *, with_word: bool | None = None, min_shapes: int = 1) -> Scene:
    """A random scene. A scene is either one colour, one shape kind or mixed, which makes
    near-miss objects (same colour or same shape) co-occur, as COCO objects do for POPE."""
    if with_word is None:
        with_word = rng.random() < 0.3
    n_shapes = rng.randint(min_shapes, 4 if not with_word else 3)
    mode = rng.choice(("mixed", "mixed", "same_color", "same_shape"))
    cells = rng.sample(list(CELLS), n_shapes + (1 if with_word else 0))
    base_color = rng.choices(list(COLORS), COLOR_WEIGHTS)[0]
    base_shape = rng.choices(SHAPES, SHAPE_WEIGHTS)[0]
    shapes, seen = [], set()
    while len(shapes) < n_shapes:
        color = base_color if mode == "same_color" else rng.choices(list(COLORS), COLOR_WEIGHTS)[0]
        shape = base_shape if mode == "same_shape" else rng.choices(SHAPES, SHAPE_WEIGHTS)[0]
        if (color, shape) in seen:
            continue  # resample: 4 shapes <= 4 kinds <= 6 colours, so every mode can be filled
        seen.add((color, shape))
        shapes.append(Shape(shape, color, rng.choice(list(SIZES)), cells[len(shapes)]))
    jitter = tuple((rng.randint(-3, 3), rng.randint(-3, 3)) for _ in range(len(cells)))
    word = rng.choice(WORDS) if with_word else None
    return Scene(tuple(shapes), word, cells[-1] if with_word else None, jitter)


def render(scene: Scene):
    """The scene as a 112x112 RGB PIL image."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for shape, (dx, dy) in zip(scene.shapes, scene.jitter):
        cx, cy = CELLS[shape.cell]
        _draw_shape(draw, shape.shape, cx + dx, cy + dy, SIZES[shape.size], COLORS[shape.color])
    if scene.word:
        cx, cy = CELLS[scene.word_cell]
        dx, dy = scene.jitter[len(scene.shapes)]
        font = _word_font()
        draw.text((cx + dx, cy + dy), scene.word, fill=(255, 255, 255), font=font, anchor="mm")
    return image


@functools.lru_cache(maxsize=1)
def _word_font():
    from PIL import ImageFont, features

    # Without FreeType, Pillow silently falls back to a small bitmap font: other pixels, other numbers.
    if not features.check("freetype2"):
        raise VlmqError(
            "this Pillow has no FreeType support, so the shapes images would differ from everyone "
            "else's; install the Pillow wheel from PyPI (pip install --force-reinstall pillow)"
        )
    return ImageFont.load_default(size=16)


# The star's vertices as unit vectors (5 outer points, inner radius 0.45), rounded to 9 decimals so that a
# last-bit difference between platforms' cos/sin cannot move a pixel.
_STAR = tuple(
    (
        round((1.0 if i % 2 == 0 else 0.45) * math.cos(-math.pi / 2 + i * math.pi / 5), 9),
        round((1.0 if i % 2 == 0 else 0.45) * math.sin(-math.pi / 2 + i * math.pi / 5), 9),
    )
    for i in range(10)
)


def _draw_shape(draw, kind: str, cx: int, cy: int, r: int, color) -> None:
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)
    elif kind == "square":
        side = int(r * 0.85)
        draw.rectangle((cx - side, cy - side, cx + side, cy + side), fill=color)
    elif kind == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=color)
    else:
        draw.polygon([(cx + r * ux, cy + r * uy) for ux, uy in _STAR], fill=color)


# ---------------------------------------------------------------- how a shape can be named


def _unique_names(scene: Scene, target: Shape, *, avoid: str) -> list[str]:
    """Noun phrases that pick out ``target`` alone, never using the attribute ``avoid``
    ("color" | "shape" | "cell" | "size")."""
    names = []
    if avoid not in ("color", "shape"):
        names.append(f"the {target.color} {target.shape}")
    if avoid != "color" and scene.count("color", target.color) == 1:
        names.append(f"the {target.color} shape")
    if avoid != "shape" and scene.count("shape", target.shape) == 1:
        names.append(f"the {target.shape}")
    if avoid != "cell":
        names.append(f"the shape {PLACE_PHRASE[target.cell]}")
    return names


def _humans(rng: random.Random, canonical: str, variants: list[str]) -> tuple[str, ...]:
    """Ten annotator answers: mostly the canonical one plus 1-3 natural variants (never unanimous,
    so the official scorer's normalisation applies, as on real VQAv2 questions)."""
    n_variant = rng.randint(1, 3)
    answers = [canonical] * (10 - n_variant) + [rng.choice(variants) for _ in range(n_variant)]
    rng.shuffle(answers)
    return tuple(answers)


# ---------------------------------------------------------------- VQA (open answers)


def vqa_question(rng: random.Random, scene: Scene) -> QA:
    kinds = ["color", "shape", "count", "position", "size"] + (["ocr", "ocr"] if scene.word else [])
    return _VQA_MAKERS[rng.choice(kinds)](rng, scene)


def _vqa_color(rng, scene):
    target = rng.choice(scene.shapes)
    name = rng.choice(_unique_names(scene, target, avoid="color"))
    question = rng.choice((f"What color is {name}?", f"What is the color of {name}?"))
    variants = [f"{target.color} {target.shape}", target.color.upper(), f"{target.color} color"]
    return QA(question, target.color, "color", _humans(rng, target.color, variants))


def _vqa_shape(rng, scene):
    target = rng.choice(scene.shapes)
    name = rng.choice(_unique_names(scene, target, avoid="shape")).replace(" shape", " object")
    question = rng.choice((f"What shape is {name}?", f"What kind of shape is {name}?"))
    variants = [f"a {target.shape}", f"{target.color} {target.shape}", f"{target.shape}s"]
    return QA(question, target.shape, "shape", _humans(rng, target.shape, variants))


def _vqa_count(rng, scene):
    if rng.random() < 0.4:
        n, question = scene.count(), "How many shapes are there?"
    else:
        attr = rng.choice(("shape", "color"))
        value = rng.choice(SHAPES if attr == "shape" else list(COLORS))
        n = scene.count(attr, value)
        noun = f"{value}s" if attr == "shape" else f"{value} shapes"
        question = f"How many {noun} are there?"
    variants = [NUMBER_WORDS[n]] + (["none", "no"] if n == 0 else [])
    return QA(question, str(n), "count", _humans(rng, str(n), variants))


def _vqa_position(rng, scene):
    target = rng.choice(scene.shapes)
    name = rng.choice(_unique_names(scene, target, avoid="cell"))
    question = rng.choice((f"Where is {name}?", f"Where is {name} in the image?"))
    variants = [PLACE_PHRASE[target.cell], f"{target.cell} side", f"{target.cell} of image"]
    return QA(question, target.cell, "position", _humans(rng, target.cell, variants))


def _vqa_size(rng, scene):
    target = rng.choice(scene.shapes)
    name = rng.choice(_unique_names(scene, target, avoid="size"))
    question = f"Is {name} large or small?"
    variants = ["big"] if target.size == "large" else ["little", "tiny"]
    return QA(question, target.size, "size", _humans(rng, target.size, variants))


def _vqa_ocr(rng, scene):
    question = rng.choice(("What word is written in the image?", "What does the text say?"))
    variants = [scene.word.upper(), f"the word {scene.word}", f'"{scene.word}"']
    return QA(question, scene.word, "ocr", _humans(rng, scene.word, variants))


_VQA_MAKERS = {
    "color": _vqa_color,
    "shape": _vqa_shape,
    "count": _vqa_count,
    "position": _vqa_position,
    "size": _vqa_size,
    "ocr": _vqa_ocr,
}
_VQA_QUESTION_TYPE = {
    "color": "what color is the",
    "shape": "what shape is",
    "count": "how many",
    "position": "where is the",
    "size": "is the",
    "ocr": "what does the",
}


# ---------------------------------------------------------------- yes/no pairs (POPE and MME)


def existence_question(category: str) -> str:
    article = "an" if category[0] in "aeiou" else "a"
    return f"Is there {article} {category} in the image?"


def absent_categories(scene: Scene, ranking: list[str] | None, rng: random.Random) -> list[str]:
    """Categories not in the scene: in ``ranking`` order if given (popular/adversarial), else shuffled."""
    present = scene.categories()
    absent = [cat for cat in CATEGORIES if cat not in present]
    if ranking is None:
        rng.shuffle(absent)
        return absent
    order = {cat: i for i, cat in enumerate(ranking)}
    return sorted(absent, key=lambda cat: order.get(cat, len(order)))


def near_miss_categories(scene: Scene, rng: random.Random) -> list[str]:
    """Absent categories sharing a colour or a shape with a present one: the hardest negatives."""
    present = scene.categories()
    colors, shapes = {s.color for s in scene.shapes}, {s.shape for s in scene.shapes}
    near = [
        f"{c} {s}"
        for c in COLORS
        for s in SHAPES  # CATEGORIES order
        if (c in colors or s in shapes) and f"{c} {s}" not in present
    ]
    rng.shuffle(near)
    return near or absent_categories(scene, None, rng)


def mme_pair(rng: random.Random, scene: Scene, subtask: str) -> tuple[str, str]:
    """(yes question, no question) for one MME subtask, each without the MME suffix."""
    return _MME_MAKERS[subtask](rng, scene)


def _mme_existence(rng, scene):
    yes = rng.choice(scene.shapes).category
    no = rng.choice(near_miss_categories(scene, rng)[:3])
    return existence_question(yes), existence_question(no)


def _mme_count(rng, scene):
    attr = rng.choice((None, "shape", "shape"))
    target = rng.choice(scene.shapes)
    value = getattr(target, attr) if attr else None
    n = scene.count(attr, value)
    wrong = rng.choice([k for k in range(1, 5) if k != n])
    noun = (lambda k: f"{value}{'s' if k != 1 else ''}") if attr else (lambda k: "shape" if k == 1 else "shapes")
    verb = lambda k: "Is there" if k == 1 else "Are there"  # noqa: E731 - two-word helper
    return (
        f"{verb(n)} {NUMBER_WORDS[n]} {noun(n)} in the image?",
        f"{verb(wrong)} {NUMBER_WORDS[wrong]} {noun(wrong)} in the image?",
    )


def _mme_position(rng, scene):
    target = rng.choice(scene.shapes)
    name = rng.choice(_unique_names(scene, target, avoid="cell"))
    wrong = rng.choice([c for c in CELLS if c != target.cell])
    return f"Is {name} {PLACE_PHRASE[target.cell]}?", f"Is {name} {PLACE_PHRASE[wrong]}?"


def _mme_color(rng, scene):
    target = rng.choice(scene.shapes)
    name = rng.choice(_unique_names(scene, target, avoid="color"))
    wrong = rng.choice([c for c in COLORS if c != target.color])
    return f"Is {name} {target.color}?", f"Is {name} {wrong}?"


def _mme_ocr(rng, scene):
    wrong = rng.choice([w for w in WORDS if w != scene.word])
    template = rng.choice(('Does the image say "{}"?', 'Is the word "{}" written in the image?'))
    return template.format(scene.word), template.format(wrong)


def _mme_reasoning(rng, scene):
    """Compare two counts: needs counting two groups and relating them."""
    return _mme_reasoning_by(rng, scene, rng.choice(("shape", "color")))


def _mme_reasoning_by(rng, scene, attr):
    values = SHAPES if attr == "shape" else tuple(COLORS)
    first = getattr(rng.choice(scene.shapes), attr)
    others = [v for v in values if scene.count(attr, v) != scene.count(attr, first)]
    if not others:  # four shapes of four kinds: every kind counts 1, but some colour is absent
        return _mme_reasoning_by(rng, scene, "color")
    other = rng.choice(others)
    more, fewer = (first, other) if scene.count(attr, first) > scene.count(attr, other) else (other, first)
    plural = (lambda v: f"{v}s") if attr == "shape" else (lambda v: f"{v} shapes")
    return (
        f"Are there more {plural(more)} than {plural(fewer)} in the image?",
        f"Are there more {plural(fewer)} than {plural(more)} in the image?",
    )


_MME_MAKERS = {
    "existence": _mme_existence,
    "count": _mme_count,
    "position": _mme_position,
    "color": _mme_color,
    "OCR": _mme_ocr,
    "commonsense_reasoning": _mme_reasoning,
}


# ---------------------------------------------------------------- datasets in the lmms-lab schemas


def make_dataset(kind: str, n: int, seed: int):
    """A ``datasets.Dataset`` in the lmms-lab schema of ``kind``, deterministic from ``seed``.

    - "vqa": ``n`` questions (one per image), VQAv2 columns, ten answers each.
    - "pope": ``n`` questions *per split*, all three splits in one dataset (``category`` = split);
      half yes, half no; the splits share images and yes-questions and differ in the negatives,
      as in POPE.
    - "mme": ``n`` images *per subtask* (six subtasks), two questions per image (one Yes, one No),
      so ``12 n`` rows.
    """
    return _to_dataset(kind, make_rows(kind, n, seed))


def make_rows(kind: str, n: int, seed: int) -> list[dict]:
    """The rows of ``make_dataset`` as plain dicts (PIL images), without the ``datasets`` library."""
    if kind not in KINDS:
        raise VlmqError(f"unknown shapes dataset kind {kind!r}; choose from: {', '.join(KINDS)}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise VlmqError(f"shapes dataset size must be a positive integer, got {n!r}; pass n >= 1")
    return {"vqa": _vqa_rows, "pope": _pope_rows, "mme": _mme_rows}[kind](n, seed)


def _item_rng(seed: int, kind: str, index: int) -> random.Random:
    # String seeds hash with SHA-512 in CPython: stable across processes and machines.
    return random.Random(f"shapes:{seed}:{kind}:{index}")


def _vqa_rows(n: int, seed: int) -> list[dict]:
    rows = []
    for i in range(n):
        rng = _item_rng(seed, "vqa", i)
        scene = sample_scene(rng)
        qa = vqa_question(rng, scene)
        rows.append(
            {
                "question_type": _VQA_QUESTION_TYPE[qa.qtype],
                "multiple_choice_answer": qa.answer,
                "answers": [
                    {"answer": a, "answer_confidence": rng.choice(("yes", "yes", "maybe")), "answer_id": k + 1}
                    for k, a in enumerate(qa.humans)
                ],
                "image_id": seed * 1_000_000 + i,
                "answer_type": "number" if qa.qtype == "count" else "other",
                "question_id": (seed * 1_000_000 + i) * 10,
                "question": qa.question,
                "image": render(scene),
            }
        )
    return rows


def _pope_scenes(n: int, seed: int) -> list[Scene]:
    """Enough images for ``n`` questions per split at up to 3 yes/no pairs per image."""
    scenes, pairs = [], 0
    while 2 * pairs < n:
        scene = sample_scene(_item_rng(seed, "pope", len(scenes)), min_shapes=1)
        scenes.append(scene)
        pairs += min(3, len(scene.shapes))
    return scenes


@functools.lru_cache(maxsize=1)
def _cooccurrence() -> dict[str, list[str]]:
    """For each object, the others ranked by how often they share a scene, over 4000 reference scenes
    (POPE ranks by co-occurrence in COCO; a fixed large sample keeps the order stable for small n).
    Ties go by ``CATEGORIES`` order."""
    rng, counts = random.Random("shapes-cooccurrence"), {cat: Counter() for cat in CATEGORIES}
    for _ in range(4000):
        cats = sample_scene(rng).categories()
        for a in cats:
            counts[a].update(b for b in cats if b != a)
    return {cat: _ranked(c) for cat, c in counts.items() if c}


def _ranked(score: Counter) -> list[str]:
    """The keys of ``score`` from highest to lowest, ties in ``CATEGORIES`` order."""
    return sorted(score, key=lambda cat: (-score[cat], _CATEGORY_INDEX[cat]))


def _popular_ranking(scenes: list[Scene]) -> list[str]:
    """POPE's "popular" order: objects by how many of the split's images hold them."""
    freq = Counter(cat for scene in scenes for cat in scene.categories())
    return sorted(CATEGORIES, key=lambda cat: -freq[cat])  # stable: ties keep CATEGORIES order


def adversarial_ranking(scene: Scene) -> list[str]:
    """POPE's "adversarial" order: objects that most often co-occur with this image's objects.
    Scores are exact fractions (a float sum would depend on the order of its terms)."""
    cooc, score = _cooccurrence(), Counter()
    for cat in scene.categories():
        for rank, other in enumerate(cooc.get(cat, [])):
            score[other] += Fraction(1, rank + 1)
    return _ranked(score)


def _pope_rows(n: int, seed: int) -> list[dict]:
    scenes = _pope_scenes(n, seed)
    popular = _popular_ranking(scenes)
    rows = []
    for split in POPE_SPLITS:
        count = 0
        for idx, scene in enumerate(scenes):
            rng = _item_rng(seed, f"pope-{split}", idx)
            ranking = {"random": None, "popular": popular, "adversarial": adversarial_ranking(scene)}[split]
            yes_cats = sorted(scene.categories())[:3]
            no_cats = absent_categories(scene, ranking, rng)[: len(yes_cats)]
            image = render(scene)
            for yes_cat, no_cat in zip(yes_cats, no_cats):
                for cat, label in ((yes_cat, "yes"), (no_cat, "no")):
                    if count < n:
                        rows.append(_pope_row(seed, split, idx, count, cat, label, image))
                        count += 1
    return rows


def _pope_row(seed, split, image_idx, q_idx, category, label, image) -> dict:
    return {
        "id": f"{split}-{q_idx}",
        "question_id": f"{split}-{q_idx}",
        "question": existence_question(category),
        "answer": label,
        "image_source": f"shapes_{seed}_{image_idx:06d}",
        "image": image,
        "category": split,
    }


def _mme_rows(n: int, seed: int) -> list[dict]:
    rows = []
    for subtask in MME_SUBTASKS:
        for i in range(n):
            rng = _item_rng(seed, f"mme-{subtask}", i)
            scene = sample_scene(rng, with_word=(subtask == "OCR") or None)
            yes_q, no_q = mme_pair(rng, scene, subtask)
            image = render(scene)
            for question, answer in ((yes_q, "Yes"), (no_q, "No")):
                rows.append(
                    {
                        "question_id": f"{subtask}/{i:04d}.png",
                        "image": image,
                        "question": question + MME_SUFFIX,
                        "answer": answer,
                        "category": subtask,
                    }
                )
    return rows


def _to_dataset(kind: str, rows: list[dict]):
    from datasets import Dataset, Features, Image, List, Value

    string = Value("string")
    features = {
        "vqa": {
            "question_type": string,
            "multiple_choice_answer": string,
            "answers": List({"answer": string, "answer_confidence": string, "answer_id": Value("int64")}),
            "image_id": Value("int64"),
            "answer_type": string,
            "question_id": Value("int64"),
            "question": string,
            "image": Image(),
        },
        "pope": {
            "id": string,
            "question_id": string,
            "question": string,
            "answer": string,
            "image_source": string,
            "image": Image(),
            "category": string,
        },
        "mme": {"question_id": string, "image": Image(), "question": string, "answer": string, "category": string},
    }[kind]
    columns = {name: [row[name] for row in rows] for name in features}
    return Dataset.from_dict(columns, features=Features(features))


# ---------------------------------------------------------------- the training stream


def training_stream(seed: int | str) -> Iterator[tuple[object, str, str]]:
    """Endless (image, question, answer) triples over all three kinds of question, answers as a chat
    model should say them: the canonical word ("red", "2", "left") or "Yes"/"No".
    Questions are as the datasets hold them (MME ones end in " Please answer yes or no.")."""
    for image, turns in training_conversations(seed):
        for question, answer in turns:
            yield image, question, answer


def training_conversations(seed: int | str) -> Iterator[tuple[object, list[tuple[str, str]]]]:
    """Endless (image, [(question, answer), ...]): every question asked about one scene, in random
    order, plus a description of the scene (dense supervision that teaches the model to look)."""
    rng = random.Random(f"shapes-train:{seed}")
    while True:
        scene = sample_scene(rng)
        turns = training_questions(rng, scene) + [(rng.choice(DESCRIBE_PROMPTS), describe(scene))]
        rng.shuffle(turns)
        yield render(scene), turns


DESCRIBE_PROMPTS = ("Describe the image.", "What is in the image?")


def training_questions(rng: random.Random, scene: Scene) -> list[tuple[str, str]]:
    """Two open questions, one POPE yes/no pair and one MME pair, for one scene."""
    out = [(qa.question, qa.answer) for qa in (vqa_question(rng, scene), vqa_question(rng, scene))]
    yes_cat = rng.choice(scene.shapes).category
    near = rng.random() < 0.5
    negatives = near_miss_categories(scene, rng) if near else absent_categories(scene, None, rng)
    out += [(existence_question(yes_cat), "Yes"), (existence_question(negatives[0]), "No")]
    subtasks = [s for s in MME_SUBTASKS if s != "OCR" or scene.word]
    yes_q, no_q = mme_pair(rng, scene, rng.choice(subtasks))
    out += [(yes_q + MME_SUFFIX, "Yes"), (no_q + MME_SUFFIX, "No")]
    return out


def describe(scene: Scene) -> str:
    """Every object with its size, colour, shape and place, in a fixed cell order."""
    order = list(CELLS)
    parts = [
        f"a {s.size} {s.color} {s.shape} {PLACE_PHRASE[s.cell]}"
        for s in sorted(scene.shapes, key=lambda s: order.index(s.cell))
    ]
    if scene.word:
        parts.append(f'the word "{scene.word}" {PLACE_PHRASE[scene.word_cell]}')
    return ", ".join(parts) + "."


def corpus() -> list[str]:
    """Text the toy tokenizer is trained on: every word that templates and answers can produce."""
    rng = random.Random("shapes-corpus")
    lines = []
    for _ in range(3000):
        scene = sample_scene(rng)
        lines.extend(f"{q} {a}" for q, a in training_questions(rng, scene))
        lines.append(describe(scene))
        qa = vqa_question(rng, scene)
        lines.extend(qa.humans)
    lines += list(WORDS) + list(NUMBER_WORDS) + [str(k) for k in range(10)] + list(DESCRIBE_PROMPTS)
    return lines
