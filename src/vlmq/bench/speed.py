"""The speed benchmark: TTFT (vision + prefill), decode ms/token, tokens/s, VRAM; batch and image sweeps.

Records are tidy rows (the ``results.jsonl`` schema): one row per (task, metric). Tasks name the
point: ``speed`` is the default point (batch 1, first image size); the batch sweep adds ``speed/bs<N>``
(first image size), the image sweep ``speed/img<S>`` (batch 1). ``params`` repeats the point's
settings. Timed metrics carry the median of ``repeats`` runs with ``ci_low``/``ci_high`` = min/max
(``test`` = "min-max over repeats"). A point that does not fit in memory is one ``oom`` row and the
sweep goes on. ``device`` says where the timings come from: ``cpu`` timings are CPU timings.
"""

from __future__ import annotations

import collections
import gc
import statistics
import time
from dataclasses import dataclass

import torch

from vlmq.device import device_label, release_memory
from vlmq.engine import Engine, KVConfig, Prompt, memory
from vlmq.engine.inputs import encode_prompts
from vlmq.engine.qlinear import decoder_weight_bytes
from vlmq.engine.timing import Stopwatch
from vlmq.errors import VlmqError

TIMED_METRICS = ("ttft_ms", "vision_ms", "prefill_ms", "decode_ms_per_token", "tokens_per_s", "total_ms")
WORKLOADS = ("synthetic", "llava_bench")
SPREAD = "min-max over repeats"


@dataclass(frozen=True)
class SpeedOptions:
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64)
    image_sizes: tuple[int, ...] = (448,)  # square synthetic images (pixels); the first is the default
    prompt: str = "Describe this image in detail."
    new_tokens: int = 64  # fixed output length (EOS ignored) for comparable decode
    warmups: int = 2
    repeats: int = 5
    workload: str = "synthetic"  # "synthetic" | "llava_bench" (then ``prompts`` holds its prompts)
    prompts: tuple[Prompt, ...] = ()  # workload prompts, cycled to the batch size (synthetic: none)
    compile: bool | None = None  # None: compiled on CUDA, eager elsewhere
    kv: KVConfig = KVConfig()
    fp8_attention: bool = False
    max_seq_len: int | None = None  # default: longest prompt + new_tokens
    bf16_kernel: str = "fused"  # compiled float linears at decode: "fused" | "cublas" (engine/projections.py)


@dataclass(frozen=True)
class LongContextOptions:
    """One long-context decode point: ``batch`` rows over ``context`` cached tokens (synthetic contents),
    ``steps`` decode steps timed per repeat, with the recipe's KV format ``kv``."""

    kv: KVConfig = KVConfig()
    batch: int = 16
    context: int = 8192
    steps: int = 32
    repeats: int = 3
    compile: bool | None = None  # None: compiled on CUDA, eager elsewhere
    profile: bool = True  # also a kernel profile of the step (``profile_decode``), on CUDA only


def validate_options(opts: SpeedOptions) -> None:
    if not opts.batch_sizes or any(b < 1 for b in opts.batch_sizes):
        raise VlmqError(f"batch sizes {opts.batch_sizes} must be positive integers, e.g. 1,4,16,64")
    if not opts.image_sizes or any(s < 28 for s in opts.image_sizes):
        raise VlmqError(f"image sizes {opts.image_sizes} must be >= 28 pixels, e.g. 448,896")
    if opts.new_tokens < 2 or opts.warmups < 0 or opts.repeats < 1:
        raise VlmqError("new_tokens must be >= 2, warmups >= 0 and repeats >= 1")
    if opts.workload not in WORKLOADS:
        raise VlmqError(f"unknown speed workload {opts.workload!r}; choose from: {', '.join(WORKLOADS)}")
    if opts.workload != "synthetic" and not opts.prompts:
        raise VlmqError(f"speed workload {opts.workload!r} has no prompts; check --dataset-dir")


# ----- workloads -------------------------------------------------------------------------------
def synthetic_image(size: int, seed: int = 0):
    """A deterministic size x size RGB image (smooth gradients plus noise, like a photo to a JPEG coder)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    axis = np.linspace(0, 255, size)
    base = (axis[None, :, None] + axis[:, None, None]) / 2
    pixels = np.clip(base + rng.normal(0, 40, (size, size, 3)), 0, 255)
    return Image.fromarray(pixels.astype("uint8"))


def workload_prompts(opts: SpeedOptions, batch_size: int, image_size: int) -> list[Prompt]:
    """``batch_size`` prompts: the fixed prompt with synthetic images, or the workload's prompts (cycled)."""
    if opts.workload == "synthetic":
        return [Prompt(opts.prompt, synthetic_image(image_size, seed=i)) for i in range(batch_size)]
    return [opts.prompts[i % len(opts.prompts)] for i in range(batch_size)]


# ----- measurement -----------------------------------------------------------------------------
def _summary(values: list[float]) -> dict:
    return {"value": statistics.median(values), "ci_low": min(values), "ci_high": max(values), "n": len(values)}


def _single(value: float, n: int = 1) -> dict:
    """A figure without a spread (derived, or measured once)."""
    return {"value": value, "ci_low": None, "ci_high": None, "n": n}


def _oom_summary(params: dict, err: torch.OutOfMemoryError) -> dict:
    """The one row a point that did not fit in memory gets; ``params`` records the error."""
    params["error"] = f"out of memory: {str(err).splitlines()[0][:200]}"
    return _single(1.0)


def _runs_compiled(device: torch.device, compile: bool | None) -> bool:
    return device.type == "cuda" if compile is None else compile  # None: compiled on CUDA, eager elsewhere


def _record_base(recipe_name: str, kernel: str, device: torch.device, compiled: bool) -> dict:
    """The fields every speed record of one recipe carries."""
    mode = "compiled" if compiled else "eager"
    return {"recipe": recipe_name, "kernel": kernel, "device": device_label(device), "test": SPREAD, "mode": mode}


def time_engine(engine: Engine, prompts: list[Prompt], opts: SpeedOptions) -> dict[str, dict]:
    """Warm up, then time ``repeats`` generations of exactly ``new_tokens`` tokens; per-metric summaries."""
    start = time.perf_counter()
    for _ in range(opts.warmups):
        engine.generate(prompts, opts.new_tokens, ignore_eos=True)
    warmup_s = time.perf_counter() - start
    runs: dict[str, list[float]] = {m: [] for m in TIMED_METRICS}
    for _ in range(opts.repeats):
        t = engine.generate(prompts, opts.new_tokens, ignore_eos=True)[0].timings
        for key in ("ttft_ms", "vision_ms", "prefill_ms", "decode_ms_per_token", "total_ms"):
            runs[key].append(t[key])
        runs["tokens_per_s"].append(len(prompts) * 1e3 / t["decode_ms_per_token"])
    out = {m: _summary(v) for m, v in runs.items()}
    out["warmup_s"] = _single(warmup_s, n=opts.warmups)  # compile included
    return out


def measure_hf_eager_baseline(
    loaded, prompts: list[Prompt], new_tokens: int, *, warmups: int = 1, repeats: int = 3
) -> dict[str, float]:
    """HF transformers eager ``generate`` (DynamicCache, no compile): the original study's baseline.

    TTFT = a 1-token generate; decode ms/token = (N-token generate - TTFT) / (N - 1); medians.
    """
    model, device = loaded.model, loaded.model.device
    inputs = encode_prompts(loaded.processor, prompts, device).hf_inputs()
    pad = loaded.processor.tokenizer.pad_token_id

    def timed_generate(n: int) -> float:
        model.model.rope_deltas = None  # HF caches M-RoPE deltas between calls
        watch = Stopwatch(device)
        watch.mark("a")
        with torch.no_grad():
            model.generate(
                **inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=pad, disable_compile=True
            )
        watch.mark("b")
        return watch.elapsed_ms("a", "b")

    for _ in range(warmups):
        timed_generate(new_tokens)
    ttft = statistics.median(timed_generate(1) for _ in range(repeats))
    full = statistics.median(timed_generate(new_tokens) for _ in range(repeats))
    return {"ttft_ms": ttft, "decode_ms_per_token": (full - ttft) / (new_tokens - 1), "total_ms": full}


# ----- the benchmark ---------------------------------------------------------------------------
def sweep_points(opts: SpeedOptions) -> list[tuple[str, int, int]]:
    """(task, batch size, image size): the default point, the batch sweep, the image sweep."""
    first_bs, first_img = opts.batch_sizes[0], opts.image_sizes[0]
    points = [("speed", 1 if 1 in opts.batch_sizes else first_bs, first_img)]
    points += [(f"speed/bs{b}", b, first_img) for b in opts.batch_sizes if b != points[0][1]]
    points += [(f"speed/img{s}", points[0][1], s) for s in opts.image_sizes[1:]]
    return points


def run_speed(
    loaded, recipe_name: str, kernel: str, opts: SpeedOptions = SpeedOptions(), baseline: dict | None = None
) -> list[dict]:
    """Speed records for one (already quantized) model: every sweep point, OOM points included.

    ``baseline``: the HF eager BF16 figures of the same run (``measure_hf_eager_baseline``), for the
    speed-ups over it; None leaves them out.
    """
    validate_options(opts)
    device = loaded.model.device
    compiled = _runs_compiled(device, opts.compile)
    base = _record_base(recipe_name, kernel, device, compiled)
    static = _static_memory(loaded)
    bound = _bandwidth_bound(loaded)
    records: list[dict] = []
    for task, batch_size, image_size in sweep_points(opts):
        params = {
            "batch_size": batch_size,
            "image_size": image_size,
            "new_tokens": opts.new_tokens,
            "workload": opts.workload,
            "kv": opts.kv.dtype,
            "fp8_attention": opts.fp8_attention,
        }
        rows = _measure_point(loaded, opts, compiled, batch_size, image_size, static, params)
        if task == "speed" and "oom" not in rows:
            rows.update(_derived(rows, baseline, bound))
        records += [{**base, "task": task, "metric": m, **summary, "params": params} for m, summary in rows.items()]
    return records


def workload_lengths(loaded, opts: SpeedOptions, prompts: list[Prompt]) -> tuple[int, int]:
    """(tokens of the longest prompt, the engine's static cache length) for a point's workload: ``max_seq_len``, or
    the longest prompt + ``new_tokens`` + 8 (the prompts cycle, so the first four hold every length)."""
    longest = max(encode_prompts(loaded.processor, [p], "cpu").input_ids.shape[1] for p in prompts[:4])
    return longest, opts.max_seq_len or longest + opts.new_tokens + 8


def _measure_point(
    loaded, opts: SpeedOptions, compiled: bool, batch_size: int, image_size: int, static: dict, params: dict
) -> dict[str, dict]:
    engine = None
    try:
        prompts = workload_prompts(opts, batch_size, image_size)
        longest, max_len = workload_lengths(loaded, opts, prompts)
        params["prompt_tokens"] = longest
        memory.reset_peak(loaded.model.device)
        engine = Engine(
            loaded,
            kv=opts.kv,
            compile=compiled,
            fp8_attention=opts.fp8_attention,
            max_batch_size=batch_size,
            max_seq_len=max_len,
            bf16_kernel=opts.bf16_kernel,
        )
        rows = time_engine(engine, prompts, opts)
        if engine.compiled is not None:
            params.update(engine.compiled.path_notes())
        rows.update(_point_memory(engine, static))
        return rows
    except torch.OutOfMemoryError as err:
        return {"oom": _oom_summary(params, err)}
    finally:
        del engine
        release_memory()


def _static_memory(loaded) -> dict:
    """Memory right after load (and quantization): weights as stored, allocator and NVML views.

    Garbage is collected first: quantization leaves unreferenced cycles holding the original weights,
    and counting them as static made dynamic VRAM negative on the H100 (first benchmark run)."""
    device = loaded.model.device
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    snap = memory.snapshot(device)
    weights = memory.module_bytes(loaded.model)
    if snap is None:
        return {"weights": weights, "allocated": weights, "nvml": None, "load_peak": None}
    return {"weights": weights, "allocated": snap.allocated, "nvml": snap.nvml_used, "load_peak": snap.peak_allocated}


def _point_memory(engine: Engine, static: dict) -> dict[str, dict]:
    """static/dynamic VRAM plus the breakdown; on CPU tensor sizes stand in for the allocator."""
    gb = lambda x: _single(x / memory.GB)  # noqa: E731
    kv = engine.cache.nbytes()
    snap = memory.snapshot(engine.device)
    if snap is None:  # CPU: weights + KV cache by tensor sizes; activations are not measured
        return {
            "static_vram_gb": gb(static["allocated"]),
            "dynamic_vram_gb": gb(kv),
            "mem_weights_gb": gb(static["weights"]),
            "mem_kv_cache_gb": gb(kv),
        }
    dynamic = snap.peak_allocated - static["allocated"]
    rows = {
        "static_vram_gb": gb(static["allocated"]),
        "dynamic_vram_gb": gb(dynamic),
        "mem_weights_gb": gb(static["weights"]),
        "mem_kv_cache_gb": gb(kv),
        "mem_activations_gb": gb(max(dynamic - kv, 0)),
        "mem_allocator_reserve_gb": gb(snap.peak_reserved - snap.peak_allocated),
    }
    if static["load_peak"]:
        rows["load_peak_vram_gb"] = gb(static["load_peak"])
    if static["nvml"] is not None and snap.nvml_used is not None:
        rows["static_vram_nvml_gb"] = gb(static["nvml"])
        rows["dynamic_vram_nvml_gb"] = gb(snap.nvml_used - static["nvml"])
    return rows


def _bandwidth_bound(loaded) -> dict:
    """Weight bytes streamed per decode step (decoder linears + lm_head) and the device's copy bandwidth."""
    return {
        "bytes": decoder_weight_bytes(loaded.model, include_lm_head=True),
        "bandwidth": memory.device_copy_bandwidth(loaded.model.device),
    }


def _derived(rows: dict, baseline: dict | None, bound: dict) -> dict[str, dict]:
    decode_ms = rows["decode_ms_per_token"]["value"]
    bound_ms = bound["bytes"] / bound["bandwidth"] * 1e3
    out = {
        "bandwidth_fraction": _single(bound_ms / decode_ms),
        "bandwidth_bound_ms": _single(bound_ms),
        "weight_bytes_per_token_gb": _single(bound["bytes"] / memory.GB),
        "device_bandwidth_gbps": _single(bound["bandwidth"] / memory.GB),
    }
    if baseline is not None:
        out["speedup_vs_hf_eager"] = _single(baseline["decode_ms_per_token"] / decode_ms)
        out["ttft_speedup_vs_hf_eager"] = _single(baseline["ttft_ms"] / rows["ttft_ms"]["value"])
        out["hf_eager_decode_ms_per_token"] = _single(baseline["decode_ms_per_token"])
        out["hf_eager_ttft_ms"] = _single(baseline["ttft_ms"])
    return out


# ----- long context and profiles (decode only, synthetic cache contents) ------------------------------
def long_context_decode(
    loaded, recipe_name: str, kernel: str, opts: LongContextOptions = LongContextOptions(), task: str = "speed-long"
) -> list[dict]:
    """Decode ms/token at ``opts.context`` tokens x ``opts.batch`` rows (records of task
    ``<task>/ctx<context>_bs<batch>``)."""
    device, kv, batch, context, steps = loaded.model.device, opts.kv, opts.batch, opts.context, opts.steps
    compiled = _runs_compiled(device, opts.compile)
    params = {"batch_size": batch, "context": context, "steps": steps, "kv": kv.dtype, "kv_strategy": kv.strategy}
    base = {
        **_record_base(recipe_name, kernel, device, compiled),
        "task": f"{task}/ctx{context}_bs{batch}",
        "params": params,
    }
    engine = None
    try:
        max_len = context + (opts.repeats + 1) * steps + 1
        engine = Engine(loaded, kv=kv, compile=compiled, max_batch_size=batch, max_seq_len=max_len)
        with torch.no_grad():
            state = engine.synthetic_context(batch, context)
            token = torch.zeros(batch, dtype=torch.long, device=device)
            for _ in range(steps):  # warm-up: compile and capture
                token = engine.decode_step(state, token)
            per_token = []
            for _ in range(opts.repeats):
                watch = Stopwatch(device)
                watch.mark("a")
                for _ in range(steps):
                    token = engine.decode_step(state, token)
                watch.mark("b")
                per_token.append(watch.elapsed_ms("a", "b") / steps)
        kv_gb = engine.cache.nbytes() / memory.GB
        records = [
            {**base, "metric": "decode_ms_per_token", **_summary(per_token)},
            {**base, "metric": "tokens_per_s", **_summary([batch * 1e3 / t for t in per_token])},
            {**base, "metric": "mem_kv_cache_gb", **_single(kv_gb)},
        ]
        if opts.profile and device.type == "cuda":  # where the long step's time goes (the FP8-vs-BF16 KV question)
            found = profile_decode(engine, batch=batch, context=context)
            records.append(
                {**base, **profile_fields(found, "kernel_us_per_step"), "params": {**params, **profile_params(found)}}
            )
        return records
    except torch.OutOfMemoryError as err:
        return [{**base, "metric": "oom", **_oom_summary(params, err)}]
    finally:
        del engine
        release_memory()


def profile_params(found: dict) -> dict:
    """A profile's record params: kernels by name (``top``) and, for decode, per decoder-layer place (``layer``)."""
    return {"top": found["top"], "layer": found.get("layer")}


def profile_fields(found: dict, metric: str) -> dict:
    """A profile's record fields: its total kernel time (one measurement, no spread) under ``metric``."""
    return {"metric": metric, **_single(found["total_us"]), "params": profile_params(found)}


def profile_decode(engine: Engine, *, batch: int = 1, context: int = 300, steps: int = 10, top: int = 20) -> dict:
    """Kernel time per decode step (torch.profiler over ``steps`` compiled steps): where a step's time goes.
    ``total_us``: all kernels' time a step (with programmatic dependent launch, kernels overlap: the sum
    exceeds the step); ``top``: kernels by name (µs and calls a step); ``layer``: the step's kernels in launch
    order folded over the decoder layers (one row per kernel of a layer: every GEMV shares one name, so only
    its place in the layer says which projection it is); None where they do not repeat layer by layer."""
    with torch.no_grad():
        state = engine.synthetic_context(batch, context)
        token = torch.zeros(batch, dtype=torch.long, device=engine.device)
        for _ in range(3):
            token = engine.decode_step(state, token)

        def run():
            nonlocal token
            for _ in range(steps):
                token = engine.decode_step(state, token)

        events = profiled_kernels(run)
    sequence = step_sequence(events, steps)
    return {
        "total_us": sum(k[2] for k in events) / steps,
        "top": kernel_totals(events, steps)[:top],
        "layer": None if sequence is None else fold_layers(sequence, engine.decoder.num_layers),
    }


def profile_prefill(engine: Engine, prompts: list[Prompt], *, repeats: int = 5, top: int = 25) -> dict:
    """Kernel time per first token (vision tower + prefill, torch.profiler over ``repeats`` one-token
    generations after two warm-ups, which compile and capture the graphs): where TTFT goes, by kernel."""
    with torch.no_grad():
        for _ in range(2):
            engine.generate(prompts, 1, ignore_eos=True)
        events = profiled_kernels(lambda: [engine.generate(prompts, 1, ignore_eos=True) for _ in range(repeats)])
    return {"total_us": sum(k[2] for k in events) / repeats, "top": kernel_totals(events, repeats)[:top]}


def profiled_kernels(fn) -> list[tuple[str, float, float]]:
    """(name, start µs, duration µs) of every GPU kernel ``fn`` launches, in start order."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    kernels = [
        (e.name, e.time_range.start, e.time_range.elapsed_us())
        for e in prof.events()
        if e.device_type == DeviceType.CUDA and e.time_range.elapsed_us() > 0  # kernels (CPU ops would count twice)
    ]
    return sorted(kernels, key=lambda k: k[1])


def kernel_totals(kernels: list[tuple[str, float, float]], per: int) -> list[dict]:
    """µs and calls per unit (``per`` units profiled) by kernel name, largest first."""
    totals: dict[str, list[float]] = {}
    for name, _, us in kernels:
        totals.setdefault(name[:90], []).append(us)
    rows = [{"kernel": k, "us_per_step": sum(v) / per, "calls_per_step": len(v) / per} for k, v in totals.items()]
    return sorted(rows, key=lambda r: -r["us_per_step"])


def step_sequence(kernels: list[tuple[str, float, float]], steps: int) -> list[tuple[str, float, float]] | None:
    """One step's kernels in launch order: (name, mean µs, mean µs added to the step), over ``steps`` equal
    steps; None if the profiled kernels do not split into equal steps. Kernels that do not run the same
    number of times every step (host-side fills between steps) are left out. What a kernel adds to the step is
    its end minus the latest earlier end (its duration less the overlap: with programmatic dependent
    launch a kernel starts, and waits, while its predecessor runs; an idle gap before it counts to it), so
    these sum to the step's span."""
    counts = collections.Counter(name for name, _, _ in kernels)
    kernels = [k for k in kernels if counts[k[0]] % steps == 0]
    if not kernels or len(kernels) % steps:
        return None
    per = len(kernels) // steps
    names = [k[0] for k in kernels[:per]]
    if any(kernels[s * per + i][0] != names[i] for s in range(steps) for i in range(per)):
        return None
    added, latest = [], kernels[0][1]
    for _, start, us in kernels:
        added.append(max(0.0, start + us - latest))
        latest = max(latest, start + us)
    return [
        (
            names[i],
            statistics.fmean(kernels[s * per + i][2] for s in range(steps)),
            statistics.fmean(added[s * per + i] for s in range(steps)),
        )
        for i in range(per)
    ]


def fold_layers(sequence: list[tuple[str, float, float]], layers: int) -> dict | None:
    """The step's kernels folded over its ``layers`` identical layers: the first run of ``layers`` repeats
    of one kernel pattern, longest period first (a short one can repeat inside a layer: o, gate/up and down
    are three GEMVs in a row; a layer's own pattern is the longest that fits ``layers`` times). Per place in
    the layer its name, mean / min / max µs and the mean µs it adds to the step, plus the kernels outside the
    layers. None if no pattern repeats ``layers`` times."""
    names = [n for n, *_ in sequence]
    for period in range(len(names) // layers, 0, -1):
        for start in range(len(names) - period * layers + 1):
            block = names[start : start + period]
            if all(names[start + j] == block[j % period] for j in range(period * layers)):
                places = []
                for i, name in enumerate(block):
                    rows = [sequence[start + layer * period + i] for layer in range(layers)]
                    us = [r[1] for r in rows]
                    places.append(
                        {
                            "place": i,
                            "kernel": name[:90],
                            "us": statistics.fmean(us),
                            "min": min(us),
                            "max": max(us),
                            "added_us": statistics.fmean(r[2] for r in rows),
                        }
                    )
                inside = set(range(start, start + period * layers))
                outside = [(n[:90], us, added) for i, (n, us, added) in enumerate(sequence) if i not in inside]
                return {"start": start, "period": period, "layers": layers, "places": places, "outside": outside}
    return None
