"""The user's own images and prompts for the label-free `fidelity` task (``--prompts FILE_OR_DIR``).

- A JSONL file: one ``{"image": path, "prompt": text}`` object per line (``image`` relative to the
  file, optional: a line without it is a text-only prompt; ``id`` optional, default the line number;
  a line without ``prompt`` takes ``--prompt``).
- A folder: every (non-hidden) file in it is an image, asked ``--prompt`` (default `DEFAULT_PROMPT`);
  sample ids are the file names.
- ``llava_bench``: the 60 LLaVA-Bench (in-the-wild) questions (``--dataset-dir`` or the hub cache).

A bad file stops loading with one line naming the file (and line): a missing or unreadable image, a
line that is not a JSON object, an empty file or folder. Nothing has been computed yet at that point.
"""

from __future__ import annotations

import json
from pathlib import Path

from vlmq.engine.types import Prompt
from vlmq.errors import VlmqError
from vlmq.tasks.base import Sample, TaskOptions, check_unique_ids, failed_score
from vlmq.tasks.images import prepare_image, preprocess_label
from vlmq.tasks.sampled import SampleTask

DEFAULT_PROMPT = "Describe this image in detail."
LLAVA_BENCH = "llava_bench"
HOW = 'pass a JSONL of {"image": ..., "prompt": ...} lines, a folder of images, or llava_bench'


def load_prompt_set(opts: TaskOptions) -> list[Sample]:
    """The samples of ``opts.prompts`` (first ``opts.limit`` of them for a file or folder)."""
    source = opts.prompts
    if not source:
        raise VlmqError(f"task 'fidelity' needs --prompts FILE_OR_DIR; {HOW}")
    path = Path(source)
    if source == LLAVA_BENCH and not path.exists():
        return _llava_bench(opts)
    if not path.exists():
        raise VlmqError(f"--prompts {source}: no such file or folder; {HOW}")
    samples = _folder(path, opts) if path.is_dir() else _jsonl(path, opts)
    check_unique_ids(samples, f"--prompts {source}")
    return samples


def _jsonl(path: Path, opts: TaskOptions) -> list[Sample]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise VlmqError(f"{path}: cannot read it as UTF-8 text ({type(err).__name__}); {HOW}") from None
    samples = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            samples.append(_jsonl_sample(path, number, line, opts))
        if opts.limit is not None and len(samples) >= opts.limit:
            break
    if not samples:
        raise VlmqError(f"{path} holds no prompt; {HOW}")
    return samples


def _jsonl_sample(path: Path, number: int, line: str, opts: TaskOptions) -> Sample:
    where = f"{path}:{number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as err:
        raise VlmqError(
            f'{where}: not valid JSON ({err.msg}); write one {{"image": "photo.jpg", "prompt": "..."}} object per line'
        ) from None
    if not isinstance(item, dict):
        raise VlmqError(f'{where}: expected a JSON object such as {{"image": "photo.jpg", "prompt": "..."}}')
    text = item.get("prompt", opts.prompt)
    if not isinstance(text, str) or not text.strip():
        raise VlmqError(f'{where}: no "prompt" text; add "prompt": "..." to the line or pass --prompt')
    image = None
    if item.get("image") is not None:
        if not isinstance(item["image"], str):
            raise VlmqError(f'{where}: "image" must be a path string relative to {path.parent}')
        image = _read_image(path.parent / item["image"], where, opts)
    sample_id = str(item.get("id", number))
    meta = {"line": number, "image_file": item.get("image"), "image_preprocess": preprocess_label(opts.jpeg_quality)}
    return Sample(id=sample_id, prompt=Prompt(text, image), target=None, meta=meta)


def _folder(path: Path, opts: TaskOptions) -> list[Sample]:
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise VlmqError(f"folder {path} holds no image; put images in it or {HOW}")
    text = opts.prompt or DEFAULT_PROMPT
    files = files[: opts.limit] if opts.limit is not None else files
    return [
        Sample(
            id=p.name,
            prompt=Prompt(text, _read_image(p, str(p), opts)),
            target=None,
            meta={"image_file": p.name, "image_preprocess": preprocess_label(opts.jpeg_quality)},
        )
        for p in files
    ]


def _read_image(path: Path, where: str, opts: TaskOptions):
    if not path.is_file():
        raise VlmqError(f"{where}: image {path} not found; image paths are relative to the JSONL file's folder")
    image, error = prepare_image({"bytes": None, "path": str(path)}, opts.jpeg_quality)
    if error is not None:
        raise VlmqError(f"{where}: {error}; remove or replace {path.name}")
    return image


def _llava_bench(opts: TaskOptions) -> list[Sample]:
    from vlmq.tasks.llava_bench import LlavaBenchTask

    return [Sample(id=s.id, prompt=s.prompt, target=None, meta=s.meta) for s in LlavaBenchTask().load(opts)]


class FidelityTask(SampleTask):
    """Your own images and prompts (--prompts): fidelity of each recipe to the baseline, no labels."""

    name = "fidelity"
    max_new_tokens = 64

    def load(self, opts: TaskOptions) -> list[Sample]:
        return load_prompt_set(opts)

    def score(self, sample: Sample, output: str, opts: TaskOptions) -> dict:
        """No label, so no score (a sample whose image failed is still a failed sample)."""
        return failed_score(sample) if sample.failed else {"parsed": None, "score": None}
