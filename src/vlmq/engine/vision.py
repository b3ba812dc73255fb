"""The vision tower's forward: merged visual tokens for a batch of images.

``image_features`` is HF's own forward: the reference, the eager engine's path and the path of every
model ``FusedVisionTower`` does not cover. ``FusedVisionTower`` runs the same modules (Qwen2-VL blocks:
LayerNorm, qkv, 2-D rotary embedding in float32, attention, proj, quick-GELU MLP) with HF's arithmetic,
arranged for speed when replayed from a CUDA graph (``vlmq.engine.graphs.VisionGraphs``):

- attention is one ``scaled_dot_product_attention`` call per image (patch counts are Python ints, so no
  ``cu_seqlens.tolist()`` sync), through the first SDPA backend of ``VISION_SDPA_BACKENDS`` that takes the
  shape (the order comes from ``benchmarks/bench_attention.py``);
- on CUDA the block is compiled once with dynamic shapes (one graph for all 32 blocks and every image size):
  Inductor fuses LayerNorm, the float32 rotation, GELU and the residual adds, which HF runs as ~30 small
  kernels a block; the residual add of a block's MLP is deferred into the next block's first LayerNorm;
- the Conv3d patch embedding (kernel = stride) runs as the matrix product it is.

Why: for one 448x448 image (1024 patches) the tower's ~1.3 TFLOP need ~2 ms of tensor-core time on an
H200, but HF's blocks replayed from a CUDA graph took 6.7 ms (qwen2-vl-2b).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable

import torch
import torch.nn.functional as F

# SDPA backends tried in this order for the vision tower's attention (one sequence of up to a few thousand
# patches, 16 heads of 80); the first that supports the inputs runs. benchmarks/bench_attention.py times each:
# on the H200 (torch 2.11, CUDA 13.0) cuDNN took 18.7 us a call at 1024 patches and 219 at 4096, flash 30.5 and
# 329, memory-efficient 54.5 and 788, all at the same error against fp32 (2.2e-3). cuDNN's attention is skipped
# below CUDA 12.9, where torch keeps it off by default after wrong results.
VISION_SDPA_BACKENDS = ("CUDNN_ATTENTION", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH")
CUDNN_ATTENTION_MIN_CUDA = (12, 9)


def image_features(model, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
    """Merged visual tokens [N_visual, hidden] for all images of a batch, in order."""
    out = model.model.get_image_features(pixel_values, image_grid_thw=image_grid_thw)
    feats = getattr(out, "pooler_output", out)  # transformers 5.x returns an output object
    if isinstance(feats, (list, tuple)):
        feats = torch.cat(list(feats), dim=0)
    return feats


def record_block_kwargs(tower, eager: Callable, pixel_values: torch.Tensor, grid_thw: torch.Tensor):
    """(features, keyword arguments HF's tower passed its first block) from one eager call: the rotary
    tables and ``cu_seqlens`` (moved to the CPU), which a replayed tower reuses for this image grid."""
    recorded = {}

    def hook(module, args, kwargs):
        recorded.setdefault("call", (args[1:], dict(kwargs)))

    handle = tower.blocks[0].register_forward_pre_hook(hook, with_kwargs=True)
    try:
        out = eager(pixel_values, grid_thw)
    finally:
        handle.remove()
    if "call" not in recorded:
        return out, None
    args, kwargs = recorded["call"]
    args = tuple(a.cpu() if i == 0 and torch.is_tensor(a) else a for i, a in enumerate(args))
    if torch.is_tensor(kwargs.get("cu_seqlens")):
        kwargs["cu_seqlens"] = kwargs["cu_seqlens"].cpu()
    return out, (args, kwargs)


def sdpa_backends(names=VISION_SDPA_BACKENDS) -> list:
    """``names`` as SDPA backends, in order, without cuDNN's where this torch's CUDA is older than 12.9."""
    from torch.nn.attention import SDPBackend

    cuda = tuple(int(part) for part in (torch.version.cuda or "0.0").split(".")[:2])
    if cuda < CUDNN_ATTENTION_MIN_CUDA:
        names = [name for name in names if name != "CUDNN_ATTENTION"]
    return [getattr(SDPBackend, name) for name in names]


def segment_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, seq_lens: tuple[int, ...], scale: float
) -> torch.Tensor:
    """Bidirectional attention within each image's patches: q/k/v [1, H, N, hd] → [N, H * hd]."""
    if len(seq_lens) == 1:
        out = F.scaled_dot_product_attention(q, k, v, scale=scale)
    else:
        parts = zip(*(x.split(list(seq_lens), dim=2) for x in (q, k, v)))
        out = torch.cat([F.scaled_dot_product_attention(qs, ks, vs, scale=scale) for qs, ks, vs in parts], dim=2)
    return out.transpose(1, 2).reshape(q.shape[2], -1)


def vision_block(
    block, h: torch.Tensor, pending: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, seq_lens: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """HF's ``Qwen2VLVisionBlock.forward`` on its own modules, except that the previous block's MLP output
    (``pending``) is added here, inside this block's first LayerNorm kernel, and this block's is returned
    unadded: (residual stream, MLP output)."""
    from transformers.models.qwen2_vl.modeling_qwen2_vl import (
        apply_rotary_pos_emb_vision,
    )

    h = h + pending
    attn = block.attn
    n = h.shape[0]
    q, k, v = attn.qkv(block.norm1(h)).reshape(n, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
    q, k, v = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
    h = h + attn.proj(segment_attention(q, k, v, seq_lens, attn.scaling))
    return h, block.mlp(block.norm2(h))


def patch_embedding(patch_embed, pixel_values: torch.Tensor) -> torch.Tensor:
    """HF's Conv3d patch embedding (kernel = stride, so each patch is one dot product) as one matrix product."""
    proj = patch_embed.proj
    w = proj.weight
    return F.linear(pixel_values.reshape(-1, w[0].numel()).to(w.dtype), w.reshape(w.shape[0], -1), proj.bias)


def merge(merger, h: torch.Tensor, pending: torch.Tensor) -> torch.Tensor:
    return merger(h + pending)


def inductor_choices(wide_rows: bool):
    """The Inductor choices a compile inside takes: ``wide_rows.WideRowChoices`` where asked, else Inductor's own."""
    if not wide_rows:
        return contextlib.nullcontext()
    from torch._inductor.virtualized import V

    from vlmq.engine.wide_rows import WideRowChoices

    return V.set_choices_handler(WideRowChoices())


class FusedVisionTower:
    """A Qwen2-VL vision tower's forward by vlmq (see the module doc), given the keyword arguments HF passed
    its blocks for this image grid (``record_block_kwargs``)."""

    def __init__(
        self,
        tower,
        *,
        compile: bool,
        backends=VISION_SDPA_BACKENDS,
        inductor_options: dict | None = None,
        wide_rows: bool = True,
    ):
        """``wide_rows``: Inductor reduces the LayerNorms' 1280-channel rows in one pass (``wide_rows.WideRowChoices``).
        The default since the H200 timed it faster (2026-12-02, twenty-fourth session, ``bench_attention.py
        --sections vision_options``, 448x448, one process: 3.774 ms against 3.830 looped; the LayerNorms 154 us
        against 208). Compiled without the FX graph cache: its key does not see the choice, so a cached looped
        graph could stand in for the one-pass one."""
        self.tower = tower
        self.backends = tuple(backends)
        self.wide_rows = wide_rows and compile
        self.block = vision_block
        self.merge = merge
        if compile:
            options = dict(inductor_options or {})
            if self.wide_rows:
                options.setdefault("fx_graph_cache", False)
            self.block = torch.compile(vision_block, dynamic=True, fullgraph=True, options=options)
            self.merge = torch.compile(merge, dynamic=True, fullgraph=True, options=options)

    @staticmethod
    def covers(block_kwargs: dict) -> bool:
        """Whether the recorded call is one this forward reproduces (rotary tables and cu_seqlens given)."""
        cu = block_kwargs.get("cu_seqlens")
        tables = block_kwargs.get("position_embeddings")
        return (
            torch.is_tensor(cu)
            and cu.device.type == "cpu"
            and isinstance(tables, (tuple, list))
            and len(tables) == 2
            and set(block_kwargs) <= {"cu_seqlens", "max_seqlen", "position_embeddings"}
        )

    def __call__(self, pixel_values: torch.Tensor, block_kwargs: dict) -> torch.Tensor:
        from torch.nn.attention import sdpa_kernel

        cos, sin = block_kwargs["position_embeddings"]
        cu = block_kwargs["cu_seqlens"].tolist()
        seq_lens = tuple(int(b - a) for a, b in itertools.pairwise(cu))
        with sdpa_kernel(sdpa_backends(self.backends), set_priority=True), inductor_choices(self.wide_rows):
            h = patch_embedding(self.tower.patch_embed, pixel_values)
            pending = torch.zeros_like(h)  # one block signature: a single compiled graph
            for block in self.tower.blocks:
                h, pending = self.block(block, h, pending, cos, sin, seq_lens)
            return self.merge(self.tower.merger, h, pending)
