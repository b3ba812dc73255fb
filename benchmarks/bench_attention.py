"""Time the attention side of a decode step and the vision tower on a CUDA GPU (issue 17), after checking them.

    PYTHONPATH=src python benchmarks/bench_attention.py --out DIR [--sections rope,attention,vision,vision_flash]

Correctness first (each section checks its kernels against the references at the timed shapes and records
PASS/FAIL), then timings inside CUDA graphs (median of replays, min and max given; a graph holds one call
per decoder layer, each on its own layer cache, and the time is per call):

- rope:      RoPE + KV-cache write, ``vlmq::rope_kv_write`` (one kernel) vs the Inductor-compiled
             ``apply_rope`` + ``write_kv`` (the compiled decode layer's path), decode at batch 1 / 16 and a
             300-token prefill, BF16 and FP8 caches;
- attention: decode attention at context 300 / 2k / 8k x batch 1 / 16, BF16 and FP8 (dynamic) caches, over a
             static cache of context + 64 slots (``--cache-lengths 372,2048``: of those lengths instead): the
             two-launch scheme (split kernel + combine kernel, the base commit's split count) vs one launch
             (in-kernel combine, 512 or 256 programs) vs ``attention_plan``'s default, and RoPE + write +
             attention as two kernels vs one (``vlmq::rope_kv_decode_attention``);
- vision:    each SDPA backend alone at the tower's attention shape (16 heads of 80, one sequence of 1024 /
             4096 patches), then the vision tower per image (448x448 and 896x896) as TTFT sees it: HF eager,
             HF blocks replayed from a CUDA graph (the base path), and the fused compiled tower replayed
             (default backend order, cuDNN first; section vision_flash: flash first, a second compile);
             kernels per tower (profiler, eager call).

Everything goes to DIR/attention.json (rewritten after each section) and a short table ends the output.
Written for one device call of at most ~5 minutes on an H200 (qwen2-vl-2b shapes, random weights).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")

import torch

LAYERS = 28
DEVICE = "cuda"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="qwen2-vl-2b")
    p.add_argument("--sections", default="rope,attention,vision,vision_flash")
    p.add_argument("--contexts", default="300,2048,8192")
    p.add_argument("--batches", default="1,16")
    p.add_argument(
        "--cache-lengths",
        default="",
        help="static cache lengths to time every context at, e.g. 372,2048 (those not above a context are skipped); "
        "default: context + 64 slots, the earlier cases",
    )
    p.add_argument(
        "--cold-mb",
        type=float,
        default=0.0,
        help="attention: cycle the graph through enough layer caches to hold this many MB (e.g. 256), so every cache "
        "read comes from HBM as in a decode step, where the weights stream between a layer's visits; default: 28 "
        "caches (~8 MB at 300 tokens on the 2b), which stay in L2",
    )
    p.add_argument("--image-sizes", default="448,896")
    p.add_argument("--replays", type=int, default=30)
    return p.parse_args(argv)


# ----- timing ------------------------------------------------------------------------------------------
def time_graph(fn, calls: int, replays: int) -> dict:
    """µs per call of ``fn`` (which makes ``calls`` calls) replayed from one CUDA graph."""
    from vlmq.engine.graphs import capture_graph

    fn()  # compile / allocate outside the capture
    graph, _ = capture_graph(fn)
    return time_calls(graph.replay, calls, replays)


def time_calls(fn, calls: int, replays: int, warmup: int = 3) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(replays):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000.0 / calls)
    return {"us": statistics.median(times), "us_min": min(times), "us_max": max(times), "replays": replays}


def cuda_kernel_count(fn) -> int:
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return sum(
        1 for e in prof.events() if e.device_type.name == "CUDA" and "Memcpy" not in e.name and "Memset" not in e.name
    )


def rel_err(a, b) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


# ----- inputs ------------------------------------------------------------------------------------------
def make_caches(kind: str, rows: int, hkv: int, length: int, head_dim: int, layers: int = LAYERS, device=DEVICE):
    """``layers`` one-layer caches of random entries (kind: bf16 | dynamic | visual_aware)."""
    from vlmq.engine.kv_cache import StaticKVCache
    from vlmq.engine.types import KVConfig, KVScales

    scales = KVScales(*(torch.full((1, hkv), 0.02) for _ in range(4)))
    kv = KVConfig.for_kind(kind, scales)
    caches = []
    for _ in range(layers):
        c = StaticKVCache(
            num_layers=1,
            max_batch_size=rows,
            num_kv_heads=hkv,
            max_seq_len=length,
            head_dim=head_dim,
            dtype=torch.bfloat16,
            device=torch.device(device),
            kv=kv,
        )
        for t in (*c.k, *c.v):
            values = torch.randn(t.shape, device=device)
            t.copy_(
                values if kind == "bf16" else (values * 100).clamp(-448, 448).to(torch.float8_e4m3fn).view(torch.uint8)
            )
        for t in (*c.k_scale, *c.v_scale):
            t.fill_(0.01)
        caches.append(c.layer(0))
    return caches


def attention_shape(loaded) -> tuple:
    """(query heads, KV heads, head dim, M-RoPE section) of a loaded model's decoder."""
    return config_attention_shape(loaded.model.config)


def config_attention_shape(config) -> tuple:
    """``attention_shape`` from a model's config (a preset's, ``presets.preset_config``: no weights needed)."""
    from vlmq.engine.rope import mrope_section
    from vlmq.models.layout import head_dim_of

    cfg = config.get_text_config()
    return cfg.num_attention_heads, cfg.num_key_value_heads, head_dim_of(cfg), mrope_section(cfg)


def decode_inputs(b: int, t: int, shape, theta: float = 1e6, device=DEVICE):
    from vlmq.engine.rope import mrope_cos_sin
    from vlmq.engine.types import GENERATED

    hq, hkv, d, section = shape
    qkv = torch.randn(b, t, (hq + 2 * hkv) * d, device=device).bfloat16()
    q, k, v = qkv.split([hq * d, hkv * d, hkv * d], dim=-1)
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, device=device).float() / d))
    cos, sin = mrope_cos_sin(torch.randint(0, 4000, (3, b, t), device=device), inv_freq, section, torch.bfloat16)
    token_type = torch.full((b, t), GENERATED, device=device)
    return q, k, v, cos, sin, token_type


STEP_CONTEXT, STEP_CACHE = 300, 372  # bench_speed.py's decode context (tokens) and its static cache's slots


def step_attention_inputs(
    shape, kind: str, rows: int, layers: int, device=DEVICE, context: int = STEP_CONTEXT, cache_length: int = STEP_CACHE
) -> tuple:
    """The fused decode attention's inputs as a decode step gives them at ``context`` tokens (default
    ``STEP_CONTEXT``): ``layers`` caches of ``cache_length`` slots (``STEP_CACHE``; slots 0..context valid, the step
    writing the last), the step's q/k/v, rotation tables and token types: (caches, q, key_valid, rope),
    ``launch_decode_attention``'s arguments."""
    hq, hkv, d, _ = shape
    caches = make_caches(kind, rows, hkv, cache_length, d, layers, device)
    key_valid = torch.zeros(rows, cache_length, dtype=torch.bool, device=device)
    key_valid[:, : context + 1] = True
    q, k, v, cos, sin, token_type = decode_inputs(rows, 1, shape, device=device)
    rope = (k, v, cos, sin, [], torch.tensor([context], device=device), token_type)
    return caches, q, key_valid, rope


# ----- sections ----------------------------------------------------------------------------------------
def bench_rope(shape, args, out):
    for b, t in [(1, 1), (16, 1), (1, 300)]:
        for kind in ("bf16", "dynamic", "visual_aware"):
            if t == 1 or kind != "visual_aware":
                out["rope"].append(rope_case(shape, b, t, kind, args.replays))
                torch.cuda.empty_cache()


def rope_case(shape, b: int, t: int, kind: str, replays: int) -> dict:
    from vlmq.engine.kernels.rope_kv import launch_rope_kv, rope_kv_reference

    _, hkv, d, _ = shape
    caches = make_caches(kind, b, hkv, t + 72, d)
    ref_kv = make_caches(kind, b, hkv, t + 72, d, layers=1)[0]
    q, k, v, cos, sin, token_type = decode_inputs(b, t, shape)
    pos = torch.arange(t, device=DEVICE) + 64
    compiled = torch.compile(rope_kv_reference, fullgraph=True, dynamic=False)

    def fused(kv):
        return launch_rope_kv(
            q, k, v, cos, sin, kv.k, kv.v, kv.k_scale, kv.v_scale, list(kv.tables or ()), pos, token_type
        )

    def inductor(kv):
        return compiled(q, k, v, cos, sin, kv, pos, token_type)

    want = rope_kv_reference(q, k, v, cos, sin, ref_kv, pos, token_type)
    exact = torch.equal(fused(caches[0]).transpose(1, 2), want) and all(
        x is None or torch.equal(x[:b, :, 64 : 64 + t], y[:b, :, 64 : 64 + t])
        for x, y in zip(caches[0][:4], ref_kv[:4])
    )
    row = {
        "batch": b,
        "tokens": t,
        "cache": kind,
        "bit_exact_vs_eager": exact,
        "inductor_rel_err": rel_err(inductor(caches[1]), want),
        "fused": time_graph(lambda: [fused(kv) for kv in caches], LAYERS, replays),
        "inductor": time_graph(lambda: [inductor(kv) for kv in caches], LAYERS, replays),
        "kernels_fused": cuda_kernel_count(lambda: fused(caches[0])),
        "kernels_inductor": cuda_kernel_count(lambda: inductor(caches[0])),
    }
    log(
        f"rope b={b} t={t} {kind:12s} exact={exact} fused {row['fused']['us']:.2f} us "
        f"({row['kernels_fused']} kernel) | inductor {row['inductor']['us']:.2f} us ({row['kernels_inductor']} "
        f"kernels, rel err vs eager {row['inductor_rel_err']:.1e})"
    )
    return row


ATTENTION_VARIANTS = {  # name: launch_decode_attention keyword arguments
    "two_launch": {"combine_in_kernel": False, "max_splits": 128},  # the base commit's scheme and splits
    "single": {"combine_in_kernel": True, "target_programs": 512},  # one launch, 512 programs
    "single_t256": {"combine_in_kernel": True, "target_programs": 256},
    "default": {},  # attention_plan's choice
}


# candidate plans of the fused op: one block a split or two blocks loaded before the PDL wait (all of a program's
# cache loads at the default ~2-block splits of a 300-token context), warps
FUSED_CANDIDATES = {  # the default plan takes 4 warps (attention.ATTN_WARPS): no candidate of its own
    "fused_warps1": {"num_warps": 1},
    "fused_warps2": {"num_warps": 2},
    "fused_warps4_stages2": {"num_warps": 4, "num_stages": 2},
    "fused_warps4_stages3": {"num_warps": 4, "num_stages": 3},
    "fused_warps2_stages3": {"num_warps": 2, "num_stages": 3},
    "fused_one_block": {"max_splits": 128},
    "fused_prefetch2": {"prefetch_blocks": 2},
    "fused_3splits_prefetch2": {"max_splits": 3, "prefetch_blocks": 2},
    "fused_3splits_prefetch2_warps4": {"max_splits": 3, "prefetch_blocks": 2, "num_warps": 4},
    "fused_2splits_prefetch2": {"max_splits": 2, "prefetch_blocks": 2},
    "fused_1split_prefetch2_warps4": {"max_splits": 1, "prefetch_blocks": 2, "num_warps": 4},
}


def bench_attention(shape, args, out):
    for ctx in (int(c) for c in args.contexts.split(",")):
        lengths = [int(n) for n in args.cache_lengths.split(",") if n and int(n) > ctx] or [ctx + 64]
        for length in lengths:
            for b in (int(x) for x in args.batches.split(",")):
                for kind in ("bf16", "dynamic"):
                    out["attention"].append(attention_case(shape, ctx, b, kind, args.replays, length, args.cold_mb))
                    torch.cuda.empty_cache()


def cache_layers(cold_mb: float, rows: int, hkv: int, length: int, head_dim: int, kind: str) -> int:
    """Layer caches a timed graph cycles through: ``LAYERS``, or enough to hold ``cold_mb`` MB (K and V entries)."""
    per_layer = 2 * rows * hkv * length * head_dim * (2 if kind == "bf16" else 1)
    return max(LAYERS, -(-int(cold_mb * 2**20) // per_layer)) if cold_mb > 0 else LAYERS


def attention_case(shape, ctx: int, b: int, kind: str, replays: int, length: int, cold_mb: float = 0.0) -> dict:
    """Decode attention at context ``ctx`` (slots [0, ctx) valid, the step writes and attends to slot ``ctx``) over
    a static cache of ``length`` slots, per call over ``cache_layers`` layer caches."""
    from vlmq.engine.kernels.attention import (
        attention_plan,
        attention_splits,
        decode_attention_reference,
        launch_decode_attention,
    )
    from vlmq.engine.kernels.rope_kv import launch_rope_kv

    hq, hkv, d, _ = shape
    layers = cache_layers(cold_mb, b, hkv, length, d, kind)
    caches = make_caches(kind, b, hkv, length, d, layers)
    key_valid = torch.zeros(b, length, dtype=torch.bool, device=DEVICE)
    key_valid[:, : ctx + 1] = True
    q, k, v, cos, sin, token_type = decode_inputs(b, 1, shape)
    q_rot = torch.randn(b, hq, 1, d, device=DEVICE).bfloat16()
    slot = torch.tensor([ctx], device=DEVICE)
    plan = attention_plan(b * hkv, length, kind != "bf16")
    row = {
        "context": ctx,
        "cache_length": length,
        "batch": b,
        "cache": kind,
        "layer_caches": layers,
        "splits": attention_splits(b * hkv, length)[0],
        "splits_uncapped": attention_splits(b * hkv, length, max_splits=128)[0],
        "default_plan": {"splits": plan[0], "combine_in_kernel": plan[2]},
    }
    kv0 = caches[0]
    ref = decode_attention_reference(
        q_rot.float(),
        kv0.k if kind != "bf16" else kv0.k.float(),
        kv0.v if kind != "bf16" else kv0.v.float(),
        kv0.k_scale,
        kv0.v_scale,
        key_valid,
    )

    def variant(kw):
        def run(kv):
            return launch_decode_attention(q_rot, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, **kw)

        return run

    def two_kernels(kv):
        qr = launch_rope_kv(q, k, v, cos, sin, kv.k, kv.v, kv.k_scale, kv.v_scale, [], slot, token_type)
        return launch_decode_attention(qr.transpose(1, 2), kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid)

    def fused(**kw):
        def run(kv):
            rope = (k, v, cos, sin, [], slot, token_type)
            return launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, rope=rope, **kw)

        return run

    one_kernel = fused()  # the engine's path: attention_plan's default
    runs = {name: variant(kw) for name, kw in ATTENTION_VARIANTS.items()}
    for name, run in runs.items():
        row[f"{name}_rel_err"] = rel_err(run(kv0), ref)
    row["rope_then_attention_vs_fused_rel_err"] = rel_err(one_kernel(kv0), two_kernels(kv0))
    # the fused op with the combine fixed either way (the default picks one by attention.py's table)
    runs.update(
        rope_then_attention=two_kernels,
        fused_rope_attention=one_kernel,
        fused_in_kernel_combine=fused(combine_in_kernel=True),
        fused_two_launch=fused(combine_in_kernel=False),
        **{name: fused(**kw) for name, kw in FUSED_CANDIDATES.items()},
    )
    for name, run in runs.items():
        row[name] = time_graph(lambda run=run: [run(kv) for kv in caches], layers, replays)
    log(
        f"attention ctx={ctx} L={length} b={b} {kind:8s} splits={row['splits']}/{row['splits_uncapped']} "
        + " ".join(f"{n}={row[n]['us']:.2f}" for n in runs)
        + f" us | rel_err single {row['single_rel_err']:.1e}"
    )
    return row


def bench_sdpa(out):
    """Each SDPA backend alone at the vision tower's attention shape and layout, in a CUDA graph."""
    for n in (1024, 4096):
        q = torch.randn(n, 16, 80, device=DEVICE).bfloat16().transpose(0, 1)[None]
        k = torch.randn(n, 16, 80, device=DEVICE).bfloat16().transpose(0, 1)[None]
        v = torch.randn(n, 3, 16, 80, device=DEVICE).bfloat16()[:, 2].transpose(0, 1)[None]
        for name in ("FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION", "MATH"):
            out["sdpa"].append(sdpa_case(q, k, v, name))


def sdpa_case(q, k, v, name: str) -> dict:
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    n = q.shape[2]
    row = {"patches": n, "backend": name}
    with sdpa_kernel([SDPBackend.MATH]):
        ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    try:
        with sdpa_kernel([getattr(SDPBackend, name)]):
            row["rel_err"] = rel_err(F.scaled_dot_product_attention(q, k, v), ref)
            row.update(time_graph(lambda: [F.scaled_dot_product_attention(q, k, v) for _ in range(32)], 32, 20))
        log(
            f"sdpa n={n} {name:20s} {row['us']:8.1f} us/call (x32 blocks = {row['us'] * 32 / 1000:.2f} ms) "
            f"rel_err {row['rel_err']:.1e}"
        )
    except Exception as err:  # noqa: BLE001 - a backend that cannot run this shape / be captured
        row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
        log(f"sdpa n={n} {name}: {row['error']}")
    return row


def bench_vision(loaded, args, out):
    from vlmq.engine.graphs import VisionGraphs
    from vlmq.engine.vision import image_features

    model = loaded.model

    def eager(pixels, grid):
        return image_features(model, pixels, grid)

    paths = {"hf_blocks_graph": VisionGraphs(model, eager, fused=False), "fused_graph": VisionGraphs(model, eager)}
    for size in (int(s) for s in args.image_sizes.split(",")):
        out["vision"].append(vision_case(size, eager, paths))


def bench_vision_flash(loaded, out):
    """The fused tower with flash attention first (the default puts cuDNN's first): a fresh compile (the backend
    is chosen at tracing)."""
    from vlmq.engine.graphs import VisionGraphs
    from vlmq.engine.vision import VISION_SDPA_BACKENDS, FusedVisionTower, image_features

    model = loaded.model

    def eager(pixels, grid):
        return image_features(model, pixels, grid)

    torch._dynamo.reset()
    flash = VisionGraphs(model, eager)
    order = ("FLASH_ATTENTION", *(name for name in VISION_SDPA_BACKENDS if name != "FLASH_ATTENTION"))
    flash.fused = FusedVisionTower(flash.tower, compile=True, backends=order)
    for row in out["vision"]:
        row.update(vision_case(row["image"], eager, {"fused_graph_flash": flash}, reference_only=True))
        log(
            f"vision {row['image']} fused, flash first: {row['fused_graph_flash']['us'] / 1000:.2f} ms "
            f"rel_err {row['fused_graph_flash_rel_err']:.1e} ({row['fused_graph_flash_note']})"
        )


# Inductor option sets the fused tower is timed under (section vision_options), against the default compile: the
# tower's LayerNorms over 1280 channels compile as looped reductions (Inductor keeps a row in registers up to 1024):
# 6.2 us each for 1024 patches (64 a tower, eighth session's profile). multi_kernel compiles the persistent form too
# and keeps whichever it times faster; coordinate descent tunes every kernel's launch configuration. On the H200
# (ninth session, 448x448): default 3.755 ms, multi_kernel 3.823, coordinate descent 4.000; neither adopted.
# The default reduces the LayerNorms in one pass (vlmq.engine.wide_rows, adopted in the twenty-fourth session: 3.774
# ms against 3.830); looped_rows is Inductor's own looped form it replaced. Each set: FusedVisionTower's keyword
# arguments.
VISION_OPTION_SETS = {
    "multi_kernel": {"inductor_options": {"triton.multi_kernel": 1}},
    "coordinate_descent": {"inductor_options": {"coordinate_descent_tuning": True}},
    "looped_rows": {"wide_rows": False},
}


def kernel_times(fn, top: int = 10) -> list[list]:
    """[kernel, us, calls] of one call of ``fn``, the ``top`` longest in total (the speed benchmark's profile)."""
    from vlmq.bench.speed import kernel_totals, profiled_kernels

    rows = kernel_totals(profiled_kernels(fn), 1)[:top]
    return [[r["kernel"], round(r["us_per_step"], 1), int(r["calls_per_step"])] for r in rows]


def bench_vision_options(loaded, args, out):
    """The fused tower compiled under each of ``VISION_OPTION_SETS`` (fresh compiles), timed replayed from its CUDA
    graph like the default, with its longest kernels (profiler, one eager call) next to the default's."""
    from vlmq.engine.graphs import VisionGraphs
    from vlmq.engine.vision import FusedVisionTower, image_features

    model = loaded.model

    def eager(pixels, grid):
        return image_features(model, pixels, grid)

    if not out["vision"]:  # the section alone: its own rows
        out["vision"] = [{"image": int(s)} for s in args.image_sizes.split(",")]
    for name, options in {"default": {}, **VISION_OPTION_SETS}.items():
        torch._dynamo.reset()
        graphs = VisionGraphs(model, eager)
        graphs.fused = FusedVisionTower(graphs.tower, compile=True, **options)
        key = f"fused_graph_{name}"
        try:
            vision_option_rows(graphs, key, name, eager, out)
        except Exception as err:  # noqa: BLE001 - recorded; the other option sets still run
            out["errors"][f"vision_options {name}"] = traceback.format_exc()[-3000:]
            log(f"vision options {name} failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}")


def vision_option_rows(graphs, key: str, name: str, eager, out) -> None:
    """Each image of the vision rows through one option set's fused tower (``bench_vision_options``)."""
    for row in out["vision"]:
        row.update(vision_case(row["image"], eager, {key: graphs}, reference_only=True))
        kwargs = graphs.block_args[next(reversed(graphs.block_args))][1]
        side = row["image"] // 14
        pixels = torch.randn(side * side, 3 * 2 * 14 * 14, device=DEVICE, dtype=graphs.tower.dtype)
        with torch.no_grad():
            row[f"{key}_kernels"] = kernel_times(lambda g=graphs, p=pixels, kw=kwargs: g.fused(p, kw))
        log(
            f"vision {row['image']} fused, options {name}: {row[key]['us'] / 1000:.3f} ms "
            f"(min {row[key]['us_min'] / 1000:.3f}) rel_err {row[f'{key}_rel_err']:.1e} ({row[f'{key}_note']}); "
            + "; ".join(f"{k} {us:.0f} us x{n}" for k, us, n in row[f"{key}_kernels"][:6])
        )


def vision_case(size: int, eager, paths: dict, reference_only: bool = False) -> dict:
    """One image of ``size``² through each path (first calls: record, capture + compile, replay; then timed)."""
    side = size // 14
    grid = torch.tensor([[1, side, side]], device=DEVICE)
    pixels = torch.randn(side * side, 3 * 2 * 14 * 14, device=DEVICE)
    row = {"image": size, "patches": side * side}
    with torch.no_grad():
        reference = eager(pixels, grid)
        if not reference_only:
            row["hf_eager"] = time_calls(lambda: eager(pixels, grid), 1, 5)
            row["kernels_hf_eager"] = cuda_kernel_count(lambda: eager(pixels, grid))
        for name, vision in paths.items():
            start = time.perf_counter()
            feats = [vision(pixels, grid) for _ in range(3)]
            row[f"{name}_first_calls_s"] = time.perf_counter() - start
            row[f"{name}_rel_err"] = rel_err(feats[-1], reference)
            row[f"{name}_note"] = f"{vision.note}, {vision.body_note}"
            row[name] = time_calls(lambda vision=vision: vision(pixels, grid), 1, 20)
        fused = paths.get("fused_graph")
        if fused is not None and fused.fused is not None:
            kwargs = fused.block_args[next(reversed(fused.block_args))][1]
            row["kernels_fused_eager"] = cuda_kernel_count(lambda: fused.fused(pixels, kwargs))
    if not reference_only:
        log(
            f"vision {size}: "
            + " ".join(f"{n}={row[n]['us'] / 1000:.2f} ms" for n in ("hf_eager", *paths))
            + f" | rel_err fused {row['fused_graph_rel_err']:.1e} | kernels hf {row['kernels_hf_eager']} "
            f"fused {row.get('kernels_fused_eager')} | {row['fused_graph_note']}"
        )
    return row


# ----- summary -----------------------------------------------------------------------------------------
def summarize(out, fn) -> list[str]:
    """fn(section, row) -> line for every row; a row a failed section left incomplete says so."""
    lines = []
    for section in ("rope", "attention", "vision"):
        for r in out[section]:
            try:
                lines.append(fn(section, r))
            except (KeyError, TypeError) as err:
                lines.append(f"{section} {r.get('batch', r.get('image', ''))}: incomplete ({err})")
    return lines


def check_line(section, r) -> str:
    if section == "rope":
        return (
            f"rope_kv b={r['batch']} t={r['tokens']} {r['cache']}: bit-exact vs eager "
            f"{'PASS' if r['bit_exact_vs_eager'] else 'FAIL'}"
        )
    if section == "attention":
        ok = (
            all(r[f"{n}_rel_err"] < 2e-2 for n in ATTENTION_VARIANTS)
            # the fused op splits by the context, the separate attention by the cache length: other splits round the
            # probabilities to bf16 against other maxima, ~2e-3 apart at L2048 (each ~2-3e-3 from float32; H200)
            and r["rope_then_attention_vs_fused_rel_err"] < 5e-3
        )
        return f"attention {case_name(r)}: {'PASS' if ok else 'FAIL'}"
    # two bf16 towers differ by ~1.65e-2 over 32 blocks, each ~1.5e-2 from fp32 (benchmarks/vision_bf16_noise.py)
    ok = r["fused_graph_rel_err"] < 2.5e-2 and r["fused_graph_note"] == "cuda-graph, fused"
    return (
        f"vision {r['image']}: fused vs HF rel err {r['fused_graph_rel_err']:.1e} {'PASS' if ok else 'FAIL'} "
        f"({r['fused_graph_note']})"
    )


def case_name(r) -> str:
    """ctx300 b1 bf16, with the static cache length where it is not the earlier default (context + 64)."""
    length = r.get("cache_length", r["context"] + 64)
    return f"ctx{r['context']} b{r['batch']} {r['cache']}" + (f" L{length}" if length != r["context"] + 64 else "")


def table_line(section, r) -> str:
    if section == "rope":
        return (
            f"| rope+kv write (inductor → fused) | b{r['batch']} t{r['tokens']} {r['cache']} | "
            f"{r['inductor']['us']:.2f} ({r['kernels_inductor']} kernels) | {r['fused']['us']:.2f} "
            f"({r['kernels_fused']}) | µs/layer |"
        )
    if section == "attention":
        best = min(ATTENTION_VARIANTS, key=lambda n: r[n]["us"])
        case = case_name(r)
        plan = r["default_plan"]
        return (
            f"| attention (two-launch → default: {plan['splits']} splits, "
            f"{'one launch' if plan['combine_in_kernel'] else 'two launches'}) | {case} | "
            f"{r['two_launch']['us']:.2f} | {r['default']['us']:.2f} "
            f"(best: {best} {r[best]['us']:.2f}) | µs/layer |\n| rope+attention (2 kernels → 1) | {case} | "
            f"{r['rope_then_attention']['us']:.2f} | {r['fused_rope_attention']['us']:.2f} | µs/layer |\n"
            f"| fused plans (default → {', '.join(FUSED_CANDIDATES)}) | {case} | "
            f"{r['fused_rope_attention']['us']:.2f} | "
            + " / ".join(f"{r[name]['us']:.2f}" if name in r else "-" for name in FUSED_CANDIDATES)
            + " | µs/layer |"
        )
    flash = r.get("fused_graph_flash", {}).get("us", float("nan")) / 1000
    return (
        f"| vision tower {r['image']}² (HF blocks graph → fused graph; flash first) | {r['patches']} patches | "
        f"{r['hf_blocks_graph']['us'] / 1000:.2f} | {r['fused_graph']['us'] / 1000:.2f}; {flash:.2f} | ms |"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not torch.cuda.is_available():
        print("bench_attention needs a CUDA GPU (none found): nothing timed", file=sys.stderr)
        return 2
    import transformers
    import triton

    from vlmq.models import load_model

    out = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "transformers": transformers.__version__,
        "model": args.model,
        "layers_per_graph": LAYERS,
        "rope": [],
        "attention": [],
        "sdpa": [],
        "vision": [],
        "errors": {},
    }
    log(f"{out['device']} torch {out['torch']} triton {out['triton']} transformers {out['transformers']}")
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    loaded = load_model(args.model, device=DEVICE)
    shape = attention_shape(loaded)
    sections = {
        "rope": lambda: bench_rope(shape, args, out),
        "attention": lambda: bench_attention(shape, args, out),
        "vision": lambda: (bench_sdpa(out), bench_vision(loaded, args, out)),
        "vision_flash": lambda: bench_vision_flash(loaded, out),
        "vision_options": lambda: bench_vision_options(loaded, args, out),
    }
    for name in args.sections.split(","):
        start = time.perf_counter()
        try:
            sections[name]()
        except Exception as err:  # noqa: BLE001 - recorded; the other sections still run
            out["errors"][name] = traceback.format_exc()[-3000:]
            log(f"section {name} failed: {type(err).__name__}: {err}")
        log(f"section {name} took {time.perf_counter() - start:.1f} s")
        (out_dir / "attention.json").write_text(json.dumps(out, indent=1))
    table = "\n".join(["| what | case | old | new | unit |", "|---|---|---|---|---|", *summarize(out, table_line)])
    print("\n".join(summarize(out, check_line)))
    print(table)
    (out_dir / "table.md").write_text(table + "\n")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
