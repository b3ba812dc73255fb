"""The toy trainer's data: a pool of scenes rendered once, and the model inputs built from it on the device.

Rendering and tokenizing every batch on the fly bounded an earlier GPU run (626 steps in 170 s with 12
workers). So a multiprocessing pool renders a fixed set of scenes once (uint8 images plus tokenized
single-turn rows) and training draws random batches from those tensors. Pixel normalisation and the
Qwen2-VL patch layout (``patchify``) run on the device and equal the image processor's output for the
112x112 shapes images; every row has the same prefix, so one set of M-RoPE positions
(``row_positions``) serves all rows.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import random
import time
from dataclasses import dataclass

import numpy as np
import torch

from vlmq.data.shapes import DESCRIBE_PROMPTS, describe, render, sample_scene, training_questions, vqa_question
from vlmq.toy.prompts import conversation_pieces, maybe_reencode_jpeg, tokenize_pieces

MEAN = (0.48145466, 0.4578275, 0.40821073)  # the Qwen2-VL / CLIP processor normalisation
STD = (0.26862954, 0.26130258, 0.27577711)
EXTRA_VQA = 3  # open questions per scene on top of training_questions' two (VQA is the hardest bar)
IMAGE_TOKENS = 16  # a 112x112 image: 8x8 patches of 14 px, 4x4 tokens after the 2x2 merge
CHUNK_SCENES = 50  # scenes per worker job; job k of seed s draws from random.Random("shapes-pool:s:k")


@dataclass(frozen=True)
class ScenePool:
    """Rendered scenes and their tokenized rows: ``images`` uint8 [N,112,112,3]; ``ids`` / ``labels``
    [R,L] right-padded (0 / -100); ``lengths`` [R]; ``owner`` [R], the image index of each row."""

    images: torch.Tensor
    ids: torch.Tensor
    labels: torch.Tensor
    lengths: torch.Tensor
    owner: torch.Tensor

    def to(self, device) -> ScenePool:
        return ScenePool(*(t.to(device) for t in (self.images, self.ids, self.labels, self.lengths, self.owner)))


def scene_rows(rng: random.Random, processor, extra_vqa: int = EXTRA_VQA):
    """One random scene: (uint8 image HxWx3, [(ids, labels), ...]) with one single-turn row per question."""
    scene = sample_scene(rng)
    qas = training_questions(rng, scene) + [(rng.choice(DESCRIBE_PROMPTS), describe(scene))]
    qas += [(qa.question, qa.answer) for qa in (vqa_question(rng, scene) for _ in range(extra_vqa))]
    image = np.asarray(maybe_reencode_jpeg(rng, render(scene)), dtype=np.uint8)
    rows = []
    for qa in qas:
        pieces = conversation_pieces(processor, [qa], rng)
        first = pieces[0][0].replace("<|image_pad|>", "<|image_pad|>" * IMAGE_TOKENS)
        rows.append(tokenize_pieces(processor.tokenizer, [(first, False)] + pieces[1:]))
    return image, rows


_WORKER_PROCESSOR = None  # each rendering process loads the processor once


def _load_worker_processor(folder: str) -> None:
    global _WORKER_PROCESSOR
    torch.set_num_threads(1)  # the workers share the cores
    from vlmq.models.processor import Qwen2VLImageOnlyProcessor

    _WORKER_PROCESSOR = Qwen2VLImageOnlyProcessor.from_pretrained(folder)


def _render_chunk(job: tuple[str, int]):
    seed, n_scenes = job
    rng = random.Random(f"shapes-pool:{seed}")
    return [scene_rows(rng, _WORKER_PROCESSOR) for _ in range(n_scenes)]


def build_pool(folder, seed: int, n_scenes: int, workers: int, max_seconds: float | None = None) -> ScenePool:
    """Render ``n_scenes`` scenes with ``workers`` processes, each loading the processor of the model
    folder ``folder``; stops early (fewer scenes) once ``max_seconds`` have passed."""
    jobs = [
        (f"{seed}:{k}", min(CHUNK_SCENES, n_scenes - k * CHUNK_SCENES))
        for k in range(math.ceil(n_scenes / CHUNK_SCENES))
    ]
    scenes = []
    started = time.perf_counter()
    with mp.get_context("fork").Pool(workers, initializer=_load_worker_processor, initargs=(str(folder),)) as pool:
        for chunk in pool.imap(_render_chunk, jobs):
            scenes += chunk
            if max_seconds and time.perf_counter() - started > max_seconds:
                pool.terminate()
                break
    return _stack(scenes)


def _stack(scenes) -> ScenePool:
    rows = [row for _, image_rows in scenes for row in image_rows]
    owner = [k for k, (_, image_rows) in enumerate(scenes) for _ in image_rows]
    width = max(len(ids) for ids, _ in rows)
    ids_t = torch.zeros(len(rows), width, dtype=torch.int32)
    labels_t = torch.full((len(rows), width), -100, dtype=torch.int32)
    for k, (ids, labels) in enumerate(rows):
        ids_t[k, : len(ids)] = torch.tensor(ids, dtype=torch.int32)
        labels_t[k, : len(labels)] = torch.tensor(labels, dtype=torch.int32)
    lengths = torch.tensor([len(ids) for ids, _ in rows], dtype=torch.int32)
    images = torch.from_numpy(np.stack([image for image, _ in scenes]))
    return ScenePool(images, ids_t, labels_t, lengths, torch.tensor(owner))


def patchify(images: torch.Tensor, patch: int = 14, merge: int = 2, temporal: int = 2) -> torch.Tensor:
    """uint8 [N,H,W,3] -> the Qwen2-VL processor's pixel_values [N*gh*gw, 3*temporal*patch*patch]."""
    x = images.float().div(255.0)
    mean = torch.tensor(MEAN, device=x.device)
    std = torch.tensor(STD, device=x.device)
    x = ((x - mean) / std).permute(0, 3, 1, 2)  # N,C,H,W
    n, c, h, w = x.shape
    gh, gw = h // patch, w // patch
    x = x.reshape(n, c, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.permute(0, 2, 5, 3, 6, 1, 4, 7)  # N, gh/m, gw/m, mh, mw, C, ph, pw
    x = x.unsqueeze(6).expand(*x.shape[:6], temporal, patch, patch)
    return x.reshape(n * gh * gw, c * temporal * patch * patch)


def row_positions(ids: torch.Tensor, image_token_id: int, grid_hw: tuple[int, int] = (4, 4)) -> torch.Tensor:
    """M-RoPE positions [3, T] of one row with one image (``grid_hw`` merged tokens), as Qwen2-VL's
    ``get_rope_index`` computes them: text counts up, the image takes (t, h, w) = start + (0, row, col),
    text after it resumes at start + max(h, w)."""
    where = (ids == image_token_id).nonzero().flatten()
    start, n = int(where[0]), int(where.numel())
    gh, gw = grid_hw
    assert n == gh * gw and int(where[-1]) == start + n - 1, "one contiguous image per row"
    pos = torch.zeros(3, ids.numel(), dtype=torch.long)
    pos[:, :start] = torch.arange(start)
    k = torch.arange(n)
    pos[0, start : start + n] = start
    pos[1, start : start + n] = start + k // gw
    pos[2, start : start + n] = start + k % gw
    pos[:, start + n :] = torch.arange(ids.numel() - start - n) + start + max(gh, gw)
    return pos
