"""Tiny datasets in the exact lmms-lab schemas, built in code (no download), for tests of the
adapters, the tasks and the runner.

`write_dataset_dir(root)` lays them out as `TaskOptions.dataset_dir` expects (see
`vlmq.tasks.sources`): ``vqav2/``, ``pope/`` (+ ``pope/Full/<split>/``), ``mme/``, ``llava_bench/``,
as parquet files named after the split or as ``save_to_disk`` folders. Images are small PNGs drawn
with PIL; a chosen row can carry a truncated PNG to exercise failed samples.
"""

from __future__ import annotations

import io
import pathlib

import datasets
from PIL import Image, ImageDraw

from vlmq.tasks.llava_bench import LLAVA_BENCH_SOURCE
from vlmq.tasks.mme import MME_INSTRUCTION, MME_SOURCE
from vlmq.tasks.pope import POPE_POOLED_SOURCE, POPE_SPLITS, pope_split_source
from vlmq.tasks.vqav2 import VQAV2_SOURCE

STRING = datasets.Value("string")
INT64 = datasets.Value("int64")
PALETTE = ((220, 30, 30), (30, 160, 40), (30, 70, 225), (235, 205, 20), (140, 40, 175))
# (answer_type, question_type, answer) cycle: half yes/no, a third number, the rest other.
VQA_KINDS = (
    ("yes/no", "is there a", "yes"),
    ("yes/no", "is the", "no"),
    ("number", "how many", "2"),
    ("yes/no", "is there a", "no"),
    ("other", "what color is the", "red"),
    ("number", "how many", "3"),
)


def png_bytes(index: int, size: int = 16) -> bytes:
    """A small PNG whose colour and square position depend on ``index``."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    offset = index % (size // 2)
    ImageDraw.Draw(image).rectangle(
        [offset, offset, offset + size // 2, offset + size // 2], fill=PALETTE[index % len(PALETTE)]
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_cell(index: int, truncated: bool = False) -> dict:
    data = png_bytes(index)
    return {"bytes": data[: len(data) // 2] if truncated else data, "path": None}


def _table(columns: dict, features: dict) -> datasets.Dataset:
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def vqav2_table(n: int = 24, truncated: tuple[int, ...] = ()) -> datasets.Dataset:
    """``n`` VQAv2 questions cycling through `VQA_KINDS`; each has 10 answers, 7 of them the canonical one."""
    kinds = [VQA_KINDS[i % len(VQA_KINDS)] for i in range(n)]
    answers = [
        [
            {"answer": answer if k < 7 else "other thing", "answer_confidence": "yes", "answer_id": k + 1}
            for k in range(10)
        ]
        for _, _, answer in kinds
    ]
    columns = {
        "question_type": [qtype for _, qtype, _ in kinds],
        "multiple_choice_answer": [answer for _, _, answer in kinds],
        "answers": answers,
        "image_id": list(range(n)),
        "answer_type": [atype for atype, _, _ in kinds],
        "question_id": [1000 + i for i in range(n)],
        "question": [f"{qtype} thing number {i}?" for i, (_, qtype, _) in enumerate(kinds)],
        "image": [image_cell(i, i in truncated) for i in range(n)],
    }
    features = {
        "question_type": STRING,
        "multiple_choice_answer": STRING,
        "answers": datasets.List({"answer": STRING, "answer_confidence": STRING, "answer_id": INT64}),
        "image_id": INT64,
        "answer_type": STRING,
        "question_id": INT64,
        "question": STRING,
        "image": datasets.Image(),
    }
    return _table(columns, features)


def pope_table(
    n_per_split: int = 8, splits: tuple[str, ...] = POPE_SPLITS, truncated: tuple[int, ...] = ()
) -> datasets.Dataset:
    """POPE rows, ``n_per_split`` per split, alternating yes/no; question ids restart per split as in POPE."""
    rows = [(split, i) for split in splits for i in range(n_per_split)]
    columns = {
        "id": [str(k) for k in range(len(rows))],
        "question_id": [str(i + 1) for _, i in rows],
        "question": [f"Is there a {'cat' if i % 2 else 'dog'} in the image? " for _, i in rows],
        "answer": ["yes" if i % 2 == 0 else "no" for _, i in rows],
        "image_source": [f"COCO_val2014_{i // 2:012d}" for _, i in rows],
        "image": [image_cell(k, k in truncated) for k in range(len(rows))],
        "category": [split for split, _ in rows],
    }
    features = {
        "id": STRING,
        "question_id": STRING,
        "question": STRING,
        "answer": STRING,
        "image_source": STRING,
        "image": datasets.Image(),
        "category": STRING,
    }
    return _table(columns, features)


def mme_table(
    images_per_subtask: int = 3,
    subtasks: tuple[str, ...] = ("existence", "count", "OCR", "commonsense_reasoning", "code_reasoning"),
) -> datasets.Dataset:
    """MME rows: per image two questions (Yes then No) sharing ``question_id = <subtask>/<nnnn>.png``."""
    images = [(subtask, i) for subtask in subtasks for i in range(images_per_subtask)]
    rows = [(subtask, i, answer) for subtask, i in images for answer in ("Yes", "No")]
    columns = {
        "question_id": [f"{subtask}/{i:04d}.png" for subtask, i, _ in rows],
        "image": [image_cell(k // 2) for k in range(len(rows))],
        "question": [
            f"Is this {subtask} item {i} {'red' if answer == 'Yes' else 'blue'}?{MME_INSTRUCTION}"
            for subtask, i, answer in rows
        ],
        "answer": [answer for _, _, answer in rows],
        "category": [subtask for subtask, _, _ in rows],
    }
    features = {
        "question_id": STRING,
        "image": datasets.Image(),
        "question": STRING,
        "answer": STRING,
        "category": STRING,
    }
    return _table(columns, features)


def llava_bench_table(n: int = 60) -> datasets.Dataset:
    """``n`` llava-bench-in-the-wild rows (the real split has 60) over 24 images, three categories."""
    categories = ("conv", "detail", "complex")
    columns = {
        "question_id": list(range(n)),
        "question": [f"Describe what you see in picture {i % 24}." for i in range(n)],
        "image": [image_cell(i % 24) for i in range(n)],
        "caption": [f"A picture numbered {i % 24}." for i in range(n)],
        "gpt_answer": [f"It shows a coloured square ({i % 24})." for i in range(n)],
        "category": [categories[i % 3] for i in range(n)],
        "image_id": [f"{i % 24:03d}.jpg" for i in range(n)],
    }
    features = {
        "question_id": INT64,
        "question": STRING,
        "image": datasets.Image(),
        "caption": STRING,
        "gpt_answer": STRING,
        "category": STRING,
        "image_id": STRING,
    }
    return _table(columns, features)


def write_table(table: datasets.Dataset, folder: pathlib.Path, split: str, fmt: str) -> pathlib.Path:
    """``folder/<split>-00000-of-00001.parquet`` or a ``save_to_disk`` DatasetDict in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        path = folder / f"{split}-00000-of-00001.parquet"
        table.to_parquet(str(path))
        return path
    if fmt == "save_to_disk":
        datasets.DatasetDict({split: table}).save_to_disk(str(folder))
        return folder
    raise ValueError(f"unknown fixture format {fmt!r}; use 'parquet' or 'save_to_disk'")


def write_dataset_dir(
    root,
    fmt: str = "parquet",
    *,
    vqav2: datasets.Dataset | None = None,
    pope: datasets.Dataset | None = None,
    mme: datasets.Dataset | None = None,
    llava_bench: datasets.Dataset | None = None,
    pope_full: bool = True,
) -> pathlib.Path:
    """A `TaskOptions.dataset_dir` holding every task's fixture (or the tables given) in ``fmt``.

    ``pope_full`` also writes the ``Full`` config (``pope/Full/<split>/0000.parquet``, the hub layout).
    """
    root = pathlib.Path(root)
    pope = pope if pope is not None else pope_table()
    write_table(vqav2 if vqav2 is not None else vqav2_table(), root / VQAV2_SOURCE.folder, VQAV2_SOURCE.split, fmt)
    write_table(pope, root / POPE_POOLED_SOURCE.folder, POPE_POOLED_SOURCE.split, fmt)
    write_table(mme if mme is not None else mme_table(), root / MME_SOURCE.folder, MME_SOURCE.split, fmt)
    write_table(
        llava_bench if llava_bench is not None else llava_bench_table(),
        root / LLAVA_BENCH_SOURCE.folder,
        LLAVA_BENCH_SOURCE.split,
        fmt,
    )
    if pope_full:
        for split in POPE_SPLITS:
            source = pope_split_source(split)
            rows = pope.filter(lambda category, split=split: category == split, input_columns="category")
            folder = root / source.folder / source.config / split
            folder.mkdir(parents=True, exist_ok=True)
            rows.to_parquet(str(folder / "0000.parquet"))
    return root


def write_broken_dataset_dir(root, fmt: str = "parquet") -> pathlib.Path:
    """A dataset dir with faults: VQAv2 row 1 has a truncated image (a failed sample, the task goes
    on) and MME lacks its ``category`` column (loading MME raises a VlmqError naming it)."""
    return write_dataset_dir(root, fmt, vqav2=vqav2_table(truncated=(1,)), mme=mme_table().remove_columns("category"))
