"""How far HF's own bf16 vision tower is from the same tower in fp32: the noise floor the fused tower's test bound
rests on (issue 17; run on a CPU, no GPU needed).

    PYTHONPATH=src python benchmarks/vision_bf16_noise.py [--model qwen2-vl-2b] [--side 32] [--out DIR]

Random weights (the preset's architecture), rounded to bf16 once and shared by every path, and random pixels of
one ``side x side`` patch grid. Paths: HF's tower in fp32 (the reference), HF's tower in bf16 (what the engine's
HF-blocks graph replays), and vlmq's ``FusedVisionTower`` in bf16, uncompiled (its arithmetic; on a GPU it is
also compiled, which fuses but does not change the roundings it is written to keep). Prints each path's relative
error to the others, and the growth of HF bf16's error with depth (blocks kept: 8, 16, 32).

Measured (CPU, torch 2.13, qwen2-vl-2b, 1024 patches; benchmarks/results/cpu-vision-bf16-noise/): against fp32,
HF bf16 9.6e-3 / 1.19e-2 / 1.51e-2 after 8 / 16 / 32 blocks and the fused tower the same to two digits; the two
bf16 paths differ from each other by 9.9e-3 / 1.29e-2 / 1.65e-2. So the 1.8e-2 the H200 measured between the
compiled fused tower and HF's eager one is two bf16 paths' noise, not an arithmetic difference, and the GPU test
bounds the fused tower's error against fp32 by HF's own (tests/engine/test_attention_gpu.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

import torch


def rel_err(a, b) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def tower_features(tower, pixels, grid):
    out = tower(pixels.to(tower.patch_embed.proj.weight.dtype), grid_thw=grid)
    return getattr(out, "pooler_output", out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="qwen2-vl-2b")
    p.add_argument("--side", type=int, default=32, help="patches per side (32: a 448x448 image, 1024 patches)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    from vlmq.engine.vision import FusedVisionTower, record_block_kwargs
    from vlmq.models import load_model
    from vlmq.models.layout import vision_tower

    torch.manual_seed(0)
    tower = vision_tower(load_model(args.model, device="cpu", dtype=torch.bfloat16).model).eval()
    grid = torch.tensor([[1, args.side, args.side]])
    pixels = torch.randn(args.side * args.side, 3 * 2 * 14 * 14)
    rows = {}
    with torch.no_grad():
        for depth in (8, 16, len(tower.blocks)):
            part = copy.copy(tower)  # the tower with its first ``depth`` blocks
            part._modules = {**tower._modules, "blocks": tower.blocks[:depth]}
            start = time.perf_counter()
            fp32 = tower_features(copy.deepcopy(part).float(), pixels, grid)
            hf_bf16, (_, kwargs) = record_block_kwargs(
                part, lambda px, g, t=part: tower_features(t, px, g), pixels, grid
            )
            fused = FusedVisionTower(part, compile=False)(pixels, kwargs)
            rows[depth] = {
                "hf_bf16_vs_fp32": rel_err(hf_bf16, fp32),
                "fused_bf16_vs_fp32": rel_err(fused, fp32),
                "fused_vs_hf_bf16": rel_err(fused, hf_bf16),
                "seconds": time.perf_counter() - start,
            }
            print(
                f"{args.model} {args.side}x{args.side} patches, {depth:2d} blocks: "
                + " ".join(f"{k} {v:.2e}" for k, v in rows[depth].items() if k != "seconds")
                + f" ({rows[depth]['seconds']:.0f} s)",
                flush=True,
            )
    if args.out:
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "vision_bf16_noise.json").write_text(
            json.dumps({"model": args.model, "side": args.side, "torch": torch.__version__, "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
