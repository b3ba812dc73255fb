"""Train the toy VLM: a small Qwen2-VL (vision tower, merger, Qwen2 decoder with M-RoPE) on the
procedural "shapes" data, with its own tokenizer. ``vlmq toy train`` runs ``main``.

Teacher forcing through the HF model's own forward; the loss covers only the answer tokens and the
closing ``<|im_end|>``. AdamW with warm-up and cosine decay; bf16 autocast on CUDA. Weights are saved
in bfloat16 (the package default dtype), which keeps the shipped folder under 20 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import pathlib
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass

import torch

from vlmq.errors import VlmqError

# The suffix lmms-eval appends for Qwen2-VL on VQAv2, POPE and MME (see docs: scoring reference §5).
ANSWER_SUFFIX = "\nAnswer the question using a single word or phrase."
MME_SENTENCE = " Please answer yes or no."


@dataclass(frozen=True)
class TrainSettings:
    """Everything that determines the trained weights (recorded in ``training.json``)."""

    steps: int = 3000
    seed: int = 0
    device: str = "cpu"
    preset: str = "mid"
    batch_size: int = 128
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.01
    max_seconds: float | None = None  # time budget: the schedule shrinks to the steps that fit


def train_toy(out_dir, steps: int = TrainSettings.steps, seed: int = 0, device: str = "cpu",
              force: bool = False, *, batch_size: int = TrainSettings.batch_size,
              preset: str = TrainSettings.preset, max_seconds: float | None = None) -> pathlib.Path:
    """Build a toy model folder in ``out_dir``, train it on shapes data and save it (bf16).

    Refuses an existing ``out_dir`` unless ``force``. Returns the folder path.
    """
    settings = TrainSettings(steps=steps, seed=seed, device=device, preset=preset, batch_size=batch_size,
                             max_seconds=max_seconds)
    _check_settings(settings)
    out = _prepare_out_dir(out_dir, force)
    model, processor = _build(out, settings)
    started = time.perf_counter()
    losses = _train_loop(model, processor, settings)
    wall_s = time.perf_counter() - started
    model.to(torch.bfloat16).save_pretrained(out)
    processor.save_pretrained(out)
    record = {"settings": asdict(settings), "steps_done": len(losses), "wall_s": round(wall_s, 1),
              "device_name": _device_name(settings.device), "torch": torch.__version__,
              "final_loss": round(sum(losses[-50:]) / max(1, len(losses[-50:])), 4),
              "loss_every_100": [round(x, 4) for x in losses[::100]]}
    (out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return out


def _check_settings(s: TrainSettings) -> None:
    if s.steps < 1 or s.batch_size < 1:
        raise VlmqError(f"steps and batch size must be >= 1 (got {s.steps}, {s.batch_size}); pass --steps N")
    if s.device not in ("cpu", "cuda"):
        raise VlmqError(f"unknown device {s.device!r}; pass --device cpu or --device cuda")
    if s.device == "cuda" and not torch.cuda.is_available():
        raise VlmqError("--device cuda was given but no CUDA GPU is visible; use --device cpu")


def _prepare_out_dir(out_dir, force: bool) -> pathlib.Path:
    out = pathlib.Path(out_dir)
    if out.exists() and not out.is_dir():
        raise VlmqError(f"output path {out} is a file; choose a folder path for --out")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise VlmqError(f"output folder {out} already exists; pass --force to overwrite it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _build(out: pathlib.Path, s: TrainSettings):
    """A fresh random-weight model and its processor, tokenizer trained on the shapes corpus."""
    from transformers import Qwen2VLForConditionalGeneration

    from vlmq.data.shapes import corpus
    from vlmq.models.processor import Qwen2VLImageOnlyProcessor
    from vlmq.models.tiny import build_tiny_model

    build_tiny_model(out, preset=s.preset, seed=s.seed, corpus=corpus())
    processor = Qwen2VLImageOnlyProcessor.from_pretrained(out)
    model = Qwen2VLForConditionalGeneration.from_pretrained(out, dtype=torch.float32)
    return model.to(s.device), processor


# ---------------------------------------------------------------- batches


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


def _jpeg_maybe(rng: random.Random, image):
    # Harnesses re-encode images as JPEG (quality 75/85): train on some re-encoded copies.
    if rng.random() >= 0.25:
        return image
    from PIL import Image

    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=rng.randint(70, 95))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def make_batch(processor, triples: list[tuple], rng: random.Random) -> dict[str, torch.Tensor]:
    """Right-padded teacher-forcing batch; ``labels`` are -100 except on answer tokens + ``<|im_end|>``."""
    tokenizer = processor.tokenizer
    texts, images, n_answer = [], [], []
    for image, question, answer in triples:
        messages = [{"role": "user", "content": [{"type": "image"},
                                                 {"type": "text", "text": prompt_variant(rng, question)}]}]
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        completion = answer + "<|im_end|>"
        texts.append(prompt + completion)
        images.append(_jpeg_maybe(rng, image))
        n_answer.append(len(tokenizer(completion, add_special_tokens=False)["input_ids"]))
    side, tokenizer.padding_side = tokenizer.padding_side, "right"
    try:
        enc = processor(text=texts, images=images, padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = side
    labels = torch.full_like(enc["input_ids"], -100)
    lengths = enc["attention_mask"].sum(1).tolist()
    for row, (length, n) in enumerate(zip(lengths, n_answer)):
        labels[row, length - n:length] = enc["input_ids"][row, length - n:length]
    batch = {k: enc[k] for k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")}
    batch["mm_token_type_ids"] = enc.get("mm_token_type_ids",
                                         (enc["input_ids"] == processor.image_token_id).int())
    batch["labels"] = labels
    return batch


class ShapesBatches(torch.utils.data.IterableDataset):
    """Endless teacher-forcing batches; each DataLoader worker draws its own seeded stream."""

    def __init__(self, processor, seed: int, batch_size: int):
        self.processor, self.seed, self.batch_size = processor, seed, batch_size

    def __iter__(self):
        from vlmq.data.shapes import training_stream

        info = torch.utils.data.get_worker_info()
        stream_seed = f"{self.seed}:{info.id if info else 0}"
        stream = training_stream(stream_seed)
        rng = random.Random(f"prompts:{stream_seed}")
        while True:
            triples = [next(stream) for _ in range(self.batch_size)]
            yield make_batch(self.processor, triples, rng)


# ---------------------------------------------------------------- optimisation


def _lr_at(step: int, total: int, s: TrainSettings) -> float:
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    progress = min(1.0, (step - s.warmup) / max(1, total - s.warmup))
    return s.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def _steps_within_budget(timed_steps: int, timed_s: float, done: int, s: TrainSettings) -> int:
    """The schedule length that fits in ``max_seconds`` at the measured rate (never below ``done``)."""
    return max(done, min(s.steps, int(timed_steps / timed_s * s.max_seconds)))


def _loader(processor, s: TrainSettings):
    workers = 0 if s.device == "cpu" else max(1, min(12, (os.cpu_count() or 2) - 2))
    data = ShapesBatches(processor, s.seed, s.batch_size)
    return torch.utils.data.DataLoader(data, batch_size=None, num_workers=workers,
                                       prefetch_factor=4 if workers else None, pin_memory=s.device == "cuda")


def _train_loop(model, processor, s: TrainSettings) -> list[float]:
    torch.manual_seed(s.seed)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": s.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=s.lr, betas=(0.9, 0.98))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=s.device == "cuda")
    losses, total, started = [], s.steps, time.perf_counter()
    for step, batch in enumerate(_loader(processor, s)):
        if step == 20:
            started = time.perf_counter()  # skip start-up (workers, first kernels) when timing
        if step == 70 and s.max_seconds:
            total = _steps_within_budget(50, time.perf_counter() - started, step, s)
        if step >= total:
            break
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, total, s)
        batch = {k: v.to(s.device, non_blocking=True) for k, v in batch.items()}
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 100 == 0 or step == total - 1:
            print(f"step {step:5d}/{total}  loss {losses[-1]:.4f}  lr {_lr_at(step, total, s):.2e}",
                  file=sys.stderr, flush=True)
    model.eval()
    return losses


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlmq toy train",
                                     description="Train the toy Qwen2-VL model on the shapes benchmarks.")
    parser.add_argument("--out", required=True, help="output model folder")
    parser.add_argument("--steps", type=int, default=TrainSettings.steps)
    parser.add_argument("--seed", type=int, default=TrainSettings.seed)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=TrainSettings.batch_size)
    parser.add_argument("--preset", default=TrainSettings.preset, help="tiny-model size preset (vlmq.models)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="time budget for the optimisation loop; the schedule shrinks to fit")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = train_toy(args.out, args.steps, args.seed, args.device, args.force,
                    batch_size=args.batch_size, preset=args.preset, max_seconds=args.max_seconds)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
