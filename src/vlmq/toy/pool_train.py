"""Fast toy training from a pre-rendered pool (``python -m vlmq.toy.pool_train``).

``vlmq toy train`` renders and tokenises every batch on the fly; on a GPU that data pipeline, not
the model, bounded the run (626 steps in 170 s with 12 workers). Here a multiprocessing pool first
renders a fixed pool of scenes once (uint8 images plus tokenised single-turn rows), then training
draws random batches from the cached tensors for as many epochs as the time budget allows; the
pixel normalisation and Qwen2-VL patch layout are done on the device (``patchify``, identical to
the image processor's output for the 112x112 shapes images).

Every row is a single-turn chat (the image in the first user turn, as in every evaluation prompt):
one question of the kinds ``training_conversations`` asks (open VQA, POPE and MME yes/no pairs, a
scene description), answer loss on the answer and its closing ``<|im_end|>``. All rows share the
same prefix, so M-RoPE positions are the same for every row and are computed once.

Optimisation: AdamW, one learning rate for the whole model (vision tower included, never frozen),
warm-up then cosine decay, bf16 autocast on CUDA. See ``vlmq/models/toy/MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import multiprocessing as mp
import os
import pathlib
import random
import sys
import time

import numpy as np
import torch

MEAN = (0.48145466, 0.4578275, 0.40821073)  # the Qwen2-VL / CLIP processor normalisation
STD = (0.26862954, 0.26130258, 0.27577711)
EXTRA_VQA = 3  # open questions per scene on top of training_conversations' two (VQA is the hardest bar)

_PROC = None


def _worker_init(folder: str) -> None:
    global _PROC
    torch.set_num_threads(1)
    from vlmq.models.processor import Qwen2VLImageOnlyProcessor

    _PROC = Qwen2VLImageOnlyProcessor.from_pretrained(folder)


def scene_rows(rng: random.Random, processor, extra_vqa: int = EXTRA_VQA):
    """One random scene: (uint8 image HxWx3, [(ids, labels), ...]) with one single-turn row per question."""
    from vlmq.data.shapes import DESCRIBE_PROMPTS, _training_questions, describe, render, sample_scene, vqa_question
    from vlmq.toy.train import _jpeg_maybe, _tokenize_pieces, conversation_pieces

    scene = sample_scene(rng)
    qas = _training_questions(rng, scene) + [(rng.choice(DESCRIBE_PROMPTS), describe(scene))]
    qas += [(qa.question, qa.answer) for qa in (vqa_question(rng, scene) for _ in range(extra_vqa))]
    image = np.asarray(_jpeg_maybe(rng, render(scene)), dtype=np.uint8)
    rows = []
    for qa in qas:
        pieces = conversation_pieces(processor, [qa], rng)
        first = pieces[0][0].replace("<|image_pad|>", "<|image_pad|>" * 16)
        rows.append(_tokenize_pieces(processor.tokenizer, [(first, False)] + pieces[1:]))
    return image, rows


def _make_chunk(args):
    seed, n_scenes = args
    rng = random.Random(f"shapes-pool:{seed}")
    return [scene_rows(rng, _PROC) for _ in range(n_scenes)]


def build_pool(folder, seed: int, n_scenes: int, workers: int, max_seconds: float | None = None):
    """Render ``n_scenes`` scenes with ``workers`` processes (stops early at ``max_seconds``).
    Returns uint8 images [N,112,112,3], ids/labels [R,L] (pad / -100), row->image index [R]."""
    chunk = 50
    jobs = [(f"{seed}:{k}", chunk) for k in range(math.ceil(n_scenes / chunk))]
    images, rows, owner = [], [], []
    started = time.perf_counter()
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_worker_init, initargs=(str(folder),)) as pool:
        for result in pool.imap(_make_chunk, jobs):
            for image, scene_rows_ in result:
                for r in scene_rows_:
                    rows.append(r)
                    owner.append(len(images))
                images.append(image)
            if max_seconds and time.perf_counter() - started > max_seconds:
                pool.terminate()
                break
    width = max(len(ids) for ids, _ in rows)
    ids_t = torch.zeros(len(rows), width, dtype=torch.int32)
    lab_t = torch.full((len(rows), width), -100, dtype=torch.int32)
    lens = torch.zeros(len(rows), dtype=torch.int32)
    for k, (ids, labels) in enumerate(rows):
        ids_t[k, :len(ids)] = torch.tensor(ids, dtype=torch.int32)
        lab_t[k, :len(labels)] = torch.tensor(labels, dtype=torch.int32)
        lens[k] = len(ids)
    return torch.from_numpy(np.stack(images)), ids_t, lab_t, lens, torch.tensor(owner)


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
    pos[0, start:start + n] = start
    pos[1, start:start + n] = start + k // gw
    pos[2, start:start + n] = start + k % gw
    pos[:, start + n:] = torch.arange(ids.numel() - start - n) + start + max(gh, gw)
    return pos


def _fast_vision_attention() -> bool:
    """Vision attention over equal-length images as one batched SDPA call (the HF non-flash path
    loops over images); mathematically the same, and checked against the original before use."""
    try:
        from transformers.models.qwen2_vl import modeling_qwen2_vl as m

        original = m.VisionAttention.forward
        rotary = m.apply_rotary_pos_emb_vision
    except AttributeError:
        return False

    def forward(self, hidden_states, cu_seqlens, *args, position_embeddings=None, **kwargs):
        lengths = cu_seqlens[1:] - cu_seqlens[:-1]
        n_img, seq = lengths.numel(), hidden_states.shape[0]
        if args or position_embeddings is None or n_img < 2 or seq % n_img or not bool((lengths == seq // n_img).all()):
            return original(self, hidden_states, cu_seqlens, *args, position_embeddings=position_embeddings, **kwargs)
        q, k, v = self.qkv(hidden_states).reshape(seq, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        cos, sin = position_embeddings
        q, k = rotary(q, k, cos, sin)
        per = seq // n_img
        q, k, v = (t.reshape(n_img, per, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=self.scaling)
        return self.proj(out.transpose(1, 2).reshape(seq, -1))

    m.VisionAttention.forward = forward
    return True


def _check_fast_attention(model, images: torch.Tensor, device: str) -> bool:
    """Patch the vision attention only if it gives the original's features on real images."""
    from transformers.models.qwen2_vl import modeling_qwen2_vl as m

    original = m.VisionAttention.forward
    grid = torch.tensor([[1, 8, 8]] * 4, device=device)
    pixels = patchify(images[:4].to(device))
    with torch.no_grad():
        ref = model.model.visual(pixels, grid_thw=grid)
        if not _fast_vision_attention():
            return False
        try:
            new = model.model.visual(pixels, grid_thw=grid)
            ok = torch.allclose(_features(ref), _features(new), atol=1e-4, rtol=1e-3)
        except Exception as err:  # noqa: BLE001 - any API mismatch: keep the original path
            print(f"fast vision attention unavailable ({err})", flush=True)
            ok = False
    if not ok:
        m.VisionAttention.forward = original
    return ok


def _features(out):
    out = out.pooler_output if hasattr(out, "pooler_output") else out
    return torch.cat(list(out)) if isinstance(out, (list, tuple)) else out


def train(folder: pathlib.Path, pool, *, device: str, steps: int, batch_size: int, lr: float,
          max_seconds: float, seed: int, warmup: int = 100, weight_decay: float = 0.01):
    from transformers import Qwen2VLForConditionalGeneration

    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).to(device)
    model.train()
    images, ids, labels, lens, owner = pool
    images, ids, labels, lens, owner = (t.to(device) for t in (images, ids, labels, lens, owner))
    cfg = model.config
    # Every row has the same prefix: one set of M-RoPE positions serves all (pad positions are masked).
    positions = row_positions(ids[lens.argmax()].cpu().long(), cfg.image_token_id).to(device)[:, None]
    fast = _check_fast_attention(model, images, device)
    print(f"batched vision attention: {fast}", flush=True)
    import inspect

    extra = {"mm_token_type_ids"} & set(inspect.signature(model.forward).parameters)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98),
                                  fused=device == "cuda")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    grid = torch.tensor([[1, 8, 8]], device=device)
    total, losses, started, step = steps, [], time.perf_counter(), 0
    while step < total:
        if step == 20:
            t20 = time.perf_counter()
        if step >= 60 and step % 20 == 0:  # shrink the schedule to the time budget
            rate = (step - 20) / (time.perf_counter() - t20)
            total = max(step + 1, min(steps, int(20 + rate * (max_seconds - (t20 - started)))))
        if step < warmup:
            cur = lr * (step + 1) / warmup
        else:
            cur = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup)))))
        for group in optimizer.param_groups:
            group["lr"] = cur
        idx = torch.randint(0, ids.shape[0], (batch_size,), generator=gen).to(device)
        width = int(lens[idx].max())
        b_ids = ids[idx, :width].long()
        b_lab = labels[idx, :width].long()
        mask = (torch.arange(width, device=device)[None] < lens[idx, None]).long()
        pixel_values = patchify(images[owner[idx]])
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model(input_ids=b_ids, attention_mask=mask, labels=b_lab, pixel_values=pixel_values,
                         image_grid_thw=grid.expand(batch_size, 3),
                         **({"mm_token_type_ids": (b_ids == cfg.image_token_id).int()} if extra else {}),
                         position_ids=positions[:, :, :width].expand(3, batch_size, width)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == total - 1:
            losses.append(round(loss.item(), 4))
            print(f"step {step}/{total} loss {losses[-1]:.4f} lr {cur:.2e} t {time.perf_counter() - started:.0f}s",
                  flush=True)
        step += 1
    model.eval()
    return model, {"steps_done": step, "train_wall_s": round(time.perf_counter() - started, 1),
                   "loss_every_50": losses}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="vlmq toy train", description="Train the toy Qwen2-VL on the shapes data "
                                "(the trainer that produced the shipped model; see its MODEL_CARD.md).")
    p.add_argument("--out", required=True)
    p.add_argument("--size", default="mid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenes", type=int, default=40000)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--pool-seconds", type=float, default=60)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-seconds", type=float, default=240)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--eval-n", type=int, default=100)
    p.add_argument("--init-from", default=None, help="continue training this toy model folder")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    p.add_argument("--widen-mlp", type=int, default=0,
                   help="after training, widen the decoder MLPs to a multiple of this (same function; see widen_mlp_)")
    args = p.parse_args(argv)

    from vlmq.data.shapes import corpus
    from vlmq.models.tiny import build_tiny_model
    from vlmq.toy.train import MODEL_SIZES, _device_name, _prepare_out_dir

    t0 = time.perf_counter()
    out = _prepare_out_dir(args.out, args.force)
    preset, overrides = MODEL_SIZES[args.size]
    if args.init_from:
        import shutil

        for f in pathlib.Path(args.init_from).iterdir():
            if f.is_file() and f.name != "training.json":
                shutil.copy(f, out / f.name)
    else:
        build_tiny_model(out, preset=preset, seed=args.seed, corpus=corpus(), config_overrides=overrides)
    pool = build_pool(out, args.seed, args.scenes, args.workers, args.pool_seconds)
    pool_s = time.perf_counter() - t0
    print(f"pool: {pool[0].shape[0]} scenes, {pool[1].shape[0]} rows, width {pool[1].shape[1]}, {pool_s:.0f}s",
          flush=True)
    model, record = train(out, pool, device=args.device, steps=args.steps, batch_size=args.batch_size,
                          lr=args.lr, max_seconds=args.max_seconds, seed=args.seed,
                          warmup=args.warmup)
    if args.widen_mlp:
        widen_mlp_(model, args.widen_mlp)
    model.to(torch.bfloat16).save_pretrained(out)
    record.update({"command": "vlmq toy train " + " ".join(argv if argv is not None else sys.argv[1:]),
                   "settings": vars(args), "pool_scenes": int(pool[0].shape[0]), "pool_rows": int(pool[1].shape[0]),
                   "pool_wall_s": round(pool_s, 1), "device_name": _device_name(args.device) if args.device == "cuda"
                   else "cpu", "torch": torch.__version__})
    (out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "loss_every_50"}), flush=True)
    if args.eval_n:
        from vlmq.models import load_model
        from vlmq.toy.evaluate import evaluate_toy

        loaded = load_model(str(out), device=args.device)
        scores = evaluate_toy(loaded.model, loaded.processor, n=args.eval_n, batch_size=128)
        print(json.dumps(scores, default=str), flush=True)
        (out / "eval.json").write_text(json.dumps(scores, indent=1, default=str) + "\n")
    return 0



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
                lin = getattr(mlp, name)
                wide = torch.nn.Linear(lin.in_features, new, bias=lin.bias is not None,
                                       dtype=lin.weight.dtype, device=lin.weight.device)
                wide.weight.copy_(torch.cat([lin.weight, lin.weight[extra]]))
                setattr(mlp, name, wide)
            down = mlp.down_proj
            w = down.weight.clone()
            w[:, extra] = w[:, extra] / 2
            wide = torch.nn.Linear(new, down.out_features, bias=down.bias is not None,
                                   dtype=w.dtype, device=w.device)
            wide.weight.copy_(torch.cat([w, w[:, extra]], dim=1))
            if down.bias is not None:
                wide.bias.copy_(down.bias)
            mlp.down_proj = wide
        if hasattr(mlp, "intermediate_size"):
            mlp.intermediate_size = new
    text.intermediate_size = new
    return new


if __name__ == "__main__":
    sys.exit(main())
