"""Train the toy VLM (``vlmq toy train`` runs ``main``; ``train_toy`` is the same from Python).

A small Qwen2-VL (vision tower, merger, Qwen2 decoder with M-RoPE) with its own tokenizer, trained on
the procedural "shapes" data; this is the trainer that produced the shipped model (see
``vlmq/models/toy/MODEL_CARD.md``). It builds the model folder, renders a pool of scenes once
(``vlmq.toy.pool``), then draws random batches from the cached tensors for as many steps as the
time budget allows.

Every row is a single-turn chat (the image in the first user turn, as in every evaluation prompt):
one question of the kinds the shapes benchmarks ask (open VQA, POPE and MME yes/no pairs, a scene
description), answer loss on the answer and its closing ``<|im_end|>``. AdamW with one learning rate
for the whole model (the vision tower trains from the first step: starving it kept earlier runs at
chance), warm-up then cosine decay to 2 %, bf16 autocast on CUDA, gradient clip 1.0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import shutil
import sys
import time
from dataclasses import MISSING, asdict, dataclass, field, fields

import torch

from vlmq.device import device_label, resolve_device
from vlmq.errors import VlmqError
from vlmq.toy.pool import ScenePool, build_pool, patchify, row_positions
from vlmq.toy.vision_attention import batched_vision_attention

# Model sizes: a vlmq.models tiny preset plus config overrides. "mid" is what ships; "toy" is small
# enough to train on a CPU in seconds.
MODEL_SIZES = {
    "toy": (
        "tiny",
        {
            "text_config": {
                "hidden_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "intermediate_size": 256,
            },
            "vision_config": {"depth": 1, "embed_dim": 64, "num_heads": 2},
        },
    ),
    "mid": ("mid", {}),
}
WEIGHT_DECAY = 0.01  # on matrices only
FINAL_LR_SHARE = 0.02  # the cosine decays to this share of the peak rate
GRID_THW = (1, 8, 8)  # a 112x112 shapes image: one frame of 8x8 patches


def _setting(default, help_: str):
    return field(default=default, metadata={"help": help_})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class ToyTrainSettings:
    """Everything that determines the trained weights (recorded in ``training.json``); checked when made."""

    # Every field is a flag of `vlmq toy train` (build_parser); "help" is its --help text.
    size: str = _setting("mid", f"model size: {', '.join(MODEL_SIZES)}")
    seed: int = 0
    scenes: int = _setting(40000, "scenes rendered into the data pool")  # ten rows each
    workers: int = field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) - 1), metadata={"help": "processes rendering the pool"}
    )
    pool_seconds: float | None = _setting(60, "time limit for rendering")  # then the pool has fewer scenes
    steps: int = 20000
    batch_size: int = 256
    lr: float = 1e-3
    max_seconds: float | None = _setting(240, "time budget for the optimisation loop; the schedule shrinks to fit")
    device: str = _setting("auto", "cpu, cuda or auto (the GPU when there is one)")  # or cuda:N; recorded resolved
    eval_n: int = _setting(100, "held-out questions per kind (0: none)")  # evaluated at the end
    init_from: str | None = _setting(None, "continue training this toy model folder (--size is then unused)")
    warmup: int = 100
    widen_mlp: int = _setting(
        0, "after training, widen the decoder MLPs to a multiple of this (same function; see widen_mlp_)"
    )

    def __post_init__(self):
        for name in ("steps", "batch_size", "scenes", "workers"):
            if getattr(self, name) < 1:
                raise VlmqError(f"{name} must be >= 1, got {getattr(self, name)}; pass {_flag(name)} 1 or more")
        for name in ("warmup", "eval_n", "widen_mlp"):
            if getattr(self, name) < 0:
                raise VlmqError(f"{name} must be >= 0, got {getattr(self, name)}; pass {_flag(name)} 0")
        for name in ("lr", "max_seconds", "pool_seconds"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise VlmqError(f"{name} must be > 0, got {getattr(self, name)}; pass a positive {_flag(name)}")
        if self.size not in MODEL_SIZES:
            raise VlmqError(f"unknown toy model size {self.size!r}; pass --size with one of: {', '.join(MODEL_SIZES)}")
        object.__setattr__(self, "device", str(resolve_device(self.device)))  # 'auto' -> what it resolves to
        if self.init_from and not (pathlib.Path(self.init_from) / "config.json").is_file():
            raise VlmqError(
                f"--init-from {self.init_from} is not a model folder (no config.json); pass a toy model folder"
            )


def train_toy(
    out_dir, settings: ToyTrainSettings | None = None, *, force: bool = False, command: str | None = None
) -> pathlib.Path:
    """Build a toy model folder in ``out_dir``, train it (``settings``, default: ``vlmq toy train``'s
    defaults), save it in bf16 with ``training.json`` (and ``eval.json`` when ``eval_n``).

    Refuses a file path, ``init_from`` itself, and an existing non-empty folder unless ``force``
    (then it is replaced). Returns the folder path.
    """
    settings = settings or ToyTrainSettings()
    out = prepare_out_dir(out_dir, force, init_from=settings.init_from)
    started = time.perf_counter()
    _build_model_folder(out, settings)
    pool = build_pool(out, settings.seed, settings.scenes, settings.workers, settings.pool_seconds)
    pool_s = time.perf_counter() - started
    print(
        f"pool: {pool.images.shape[0]} scenes, {pool.ids.shape[0]} rows, width {pool.ids.shape[1]}, {pool_s:.0f}s",
        flush=True,
    )
    model, record = _optimise(out, pool, settings)
    if settings.widen_mlp:
        widen_mlp_(model, settings.widen_mlp)
    model.to(torch.bfloat16).save_pretrained(out)
    record.update(
        {
            **({"command": command} if command else {}),
            "settings": {"out": str(out), **asdict(settings)},
            "pool_scenes": int(pool.images.shape[0]),
            "pool_rows": int(pool.ids.shape[0]),
            "pool_wall_s": round(pool_s, 1),
            "device_name": device_label(settings.device),
            "torch": torch.__version__,
        }
    )
    (out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "loss_every_50"}), flush=True)
    if settings.eval_n:
        _evaluate(out, settings)
    return out


def prepare_out_dir(out_dir, force: bool, init_from: str | None = None) -> pathlib.Path:
    """``out_dir`` as an empty folder: refuses a file, the ``init_from`` folder (a training input) and
    a non-empty folder unless ``force``; nothing is removed before every check has passed."""
    out = pathlib.Path(out_dir)
    if out.exists() and not out.is_dir():
        raise VlmqError(f"output path {out} is a file; choose a folder path for --out")
    if init_from and out.resolve() == pathlib.Path(init_from).resolve():
        raise VlmqError(f"--out {out} is the --init-from folder; choose a new folder for --out")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise VlmqError(f"output folder {out} already exists; pass --force to overwrite it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _build_model_folder(out: pathlib.Path, s: ToyTrainSettings) -> None:
    """A copy of ``init_from`` (less its training record), or a fresh random-weight model of ``size``
    with a tokenizer trained on the shapes corpus."""
    if s.init_from:
        for f in pathlib.Path(s.init_from).iterdir():
            if f.is_file() and f.name != "training.json":
                shutil.copy(f, out / f.name)
        return
    from vlmq.data.shapes import corpus
    from vlmq.models.tiny import build_tiny_model

    preset, overrides = MODEL_SIZES[s.size]
    build_tiny_model(out, preset=preset, seed=s.seed, corpus=corpus(), config_overrides=overrides)


def _lr_at(step: int, total: int, s: ToyTrainSettings) -> float:
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    progress = min(1.0, (step - s.warmup) / max(1, total - s.warmup))
    return s.lr * (FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * progress)))


def _optimizer(model, s: ToyTrainSettings) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=s.lr,
        betas=(0.9, 0.98),
        fused=torch.device(s.device).type == "cuda",
    )


class _Batches:
    """Random teacher-forcing batches drawn from the pool on the device (seeded CPU generator)."""

    def __init__(self, model, pool: ScenePool, s: ToyTrainSettings):
        import inspect

        self.pool, self.size, self.device = pool, s.batch_size, s.device
        self.image_token_id = model.config.image_token_id
        self.with_token_types = "mm_token_type_ids" in inspect.signature(model.forward).parameters
        # Every row has the same prefix: one set of M-RoPE positions serves all (pad positions are masked).
        longest = pool.ids[pool.lengths.argmax()].cpu().long()
        self.positions = row_positions(longest, self.image_token_id).to(s.device)[:, None]
        self.grid = torch.tensor([GRID_THW], device=s.device)
        self.generator = torch.Generator(device="cpu").manual_seed(s.seed)

    def draw(self) -> dict[str, torch.Tensor]:
        pool, n = self.pool, self.size
        idx = torch.randint(0, pool.ids.shape[0], (n,), generator=self.generator).to(self.device)
        width = int(pool.lengths[idx].max())
        ids = pool.ids[idx, :width].long()
        batch = {
            "input_ids": ids,
            "labels": pool.labels[idx, :width].long(),
            "attention_mask": (torch.arange(width, device=self.device)[None] < pool.lengths[idx, None]).long(),
            "pixel_values": patchify(pool.images[pool.owner[idx]]),
            "image_grid_thw": self.grid.expand(n, 3),
            "position_ids": self.positions[:, :, :width].expand(3, n, width),
        }
        if self.with_token_types:
            batch["mm_token_type_ids"] = (ids == self.image_token_id).int()
        return batch


def _optimise(folder: pathlib.Path, pool: ScenePool, s: ToyTrainSettings):
    """Train the model in ``folder`` on ``pool``; returns the model (fp32, eval mode) and the run record."""
    from transformers import Qwen2VLForConditionalGeneration

    torch.manual_seed(s.seed)
    model = Qwen2VLForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).to(s.device)
    model.train()
    pool = pool.to(s.device)
    batches, optimizer = _Batches(model, pool, s), _optimizer(model, s)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=torch.device(s.device).type == "cuda")
    check = pool.images[:4]
    with batched_vision_attention(model, patchify(check), batches.grid.expand(len(check), 3)) as batched:
        print(f"batched vision attention: {batched}", flush=True)
        total, losses, started, step = s.steps, [], time.perf_counter(), 0
        while step < total:
            if step == 20:
                t20 = time.perf_counter()  # start-up (first kernels) is left out of the rate
            if s.max_seconds and step >= 60 and step % 20 == 0:  # shrink the schedule to the time budget
                rate = (step - 20) / (time.perf_counter() - t20)
                total = max(step + 1, min(s.steps, int(20 + rate * (s.max_seconds - (t20 - started)))))
            lr = _lr_at(step, total, s)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast:
                loss = model(**batches.draw()).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step % 50 == 0 or step == total - 1:
                losses.append(round(loss.item(), 4))
                print(
                    f"step {step}/{total} loss {losses[-1]:.4f} lr {lr:.2e} t {time.perf_counter() - started:.0f}s",
                    flush=True,
                )
            step += 1
    model.eval()
    return model, {"steps_done": step, "train_wall_s": round(time.perf_counter() - started, 1), "loss_every_50": losses}


def _evaluate(out: pathlib.Path, s: ToyTrainSettings) -> None:
    from vlmq.models import load_model
    from vlmq.toy.evaluate import evaluate_toy

    loaded = load_model(str(out), device=s.device)
    scores = evaluate_toy(loaded.model, loaded.processor, n=s.eval_n, batch_size=128)
    print(json.dumps(scores, default=str), flush=True)
    (out / "eval.json").write_text(json.dumps(scores, indent=1, default=str) + "\n")


def widen_mlp_(model, multiple: int = 256) -> int:
    """Widen every decoder MLP to a multiple of ``multiple`` channels without changing its function:
    each new channel duplicates an existing one (same gate/up rows) and both copies take half of the
    original down-projection column (halving is exact in binary floating point). Grouped int4
    recipes need ``intermediate_size`` divisible by their group size (the ``mid`` preset has 688).
    Returns the new intermediate size."""
    text = model.config.text_config if hasattr(model.config, "text_config") else model.config
    old = text.intermediate_size
    new = -(-old // multiple) * multiple
    if new == old:
        return old
    extra = torch.arange(new - old) % old  # the channels that get a twin
    for layer in model.model.language_model.layers:
        mlp = layer.mlp
        with torch.no_grad():
            for name in ("gate_proj", "up_proj"):
                weight, bias = getattr(mlp, name).weight, getattr(mlp, name).bias
                setattr(
                    mlp,
                    name,
                    _linear(
                        torch.cat([weight, weight[extra]]), None if bias is None else torch.cat([bias, bias[extra]])
                    ),
                )
            w = mlp.down_proj.weight.clone()
            w[:, extra] = w[:, extra] / 2
            mlp.down_proj = _linear(torch.cat([w, w[:, extra]], dim=1), mlp.down_proj.bias)
        if hasattr(mlp, "intermediate_size"):
            mlp.intermediate_size = new
    text.intermediate_size = new
    return new


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.nn.Linear:
    """A linear layer holding ``weight`` (out, in) and ``bias``, in their dtype and on their device."""
    layer = torch.nn.Linear(
        weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype, device=weight.device
    )
    layer.weight.copy_(weight)
    if bias is not None:
        layer.bias.copy_(bias)
    return layer


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vlmq toy train",
        description="Train the toy Qwen2-VL on the shapes data "
        "(the trainer that produced the shipped model; see its MODEL_CARD.md).",
    )
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    for setting in fields(ToyTrainSettings):
        default = setting.default_factory() if setting.default is MISSING else setting.default
        kind = {"int": int, "float": float}.get(str(setting.type).split(" |")[0])  # None: a string
        p.add_argument(_flag(setting.name), type=kind, default=default, help=setting.metadata.get("help"))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = vars(build_parser().parse_args(argv))
    out, force = args.pop("out"), args.pop("force")
    train_toy(out, ToyTrainSettings(**args), force=force, command="vlmq toy train " + " ".join(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
