"""Weight-only prefill: how much of the dequantization a second stream could hide, on a CUDA GPU.

    PYTHONPATH=src python benchmarks/bench_dequant_overlap.py --out DIR [--preset 7b] [--rows 300] [--reps 10]

Weight-only recipes prefill through ``prefill_linear``'s library path: each projection's weight is dequantized
to bf16 (one Triton pass, memory-bound) and then multiplied by cuBLAS (compute-bound at 300 rows), one after the
other. On the H200 that made the 7b's int8 / int4 TTFT 1.42x BF16's (sixth session), and the Triton
mixed-input GEMM tiles tried were slower still. This measures the alternative before the engine adopts it: a
side stream dequantizes layer L+1's four weights into one of two scratch buffers while the main stream runs
layer L's GEMMs from the other. Timed for the preset's decoder layers (distinct random weights per layer, so no
cache helps), each variant captured in one CUDA graph, median of ``reps`` replays (min-max):

- ``bf16``: cuBLAS on bf16 weights (what the overlap can at best reach);
- ``int8`` / ``int4`` ``serial``: dequantize then cuBLAS per projection (today's path);
- ``int8`` / ``int4`` ``overlap``: the two streams; its outputs must equal ``serial``'s bit for bit (a missing
  wait between the streams would show as a difference), and the scratch it needs is reported.

Prints one line per variant; DIR/dequant_overlap.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics

import torch

from bench_kernels import SHAPES, random_pack  # this folder's shape table and random packs (the engine's layouts)

LAYERS = 28  # decoder layers of qwen2-vl-2b and -7b alike
PROJECTIONS = ("qkv", "o", "gate_up", "down")


def dequantize(fmt: str, pack, out: torch.Tensor | None = None) -> torch.Tensor:
    from vlmq.engine.kernels.prefill import dequantize_int4_cuda, dequantize_w8_cuda

    if fmt == "int8":
        return dequantize_w8_cuda(pack.weight, pack.scale, torch.bfloat16, out=out)
    return dequantize_int4_cuda(pack.weight, pack.scale, pack.zero, pack.group_size, torch.bfloat16, out=out)


def run_serial(fmt, layers, xs, outs):
    for layer, layer_outs in zip(layers, outs, strict=True):
        for w, x, out in zip(layer, xs, layer_outs, strict=True):
            torch.mm(x, (w.weight if fmt == "bf16" else dequantize(fmt, w)).t(), out=out)


def run_overlap(fmt, layers, xs, outs, scratch, side):
    """Layer L's GEMMs on the current stream, layer L+1's dequantization on ``side`` into the other scratch."""
    main = torch.cuda.current_stream()
    ready = [torch.cuda.Event() for _ in layers]
    freed = [torch.cuda.Event() for _ in layers]

    def fill(i):
        with torch.cuda.stream(side):
            if i >= 2:
                side.wait_event(freed[i - 2])  # the buffer's last reader: layer i - 2
            for w, buf in zip(layers[i], scratch[i % 2], strict=True):
                dequantize(fmt, w, out=buf)
            ready[i].record(side)

    side.wait_stream(main)
    fill(0)
    for i, (layer_outs, bufs) in enumerate(zip(outs, (scratch[j % 2] for j in range(len(layers))), strict=True)):
        if i + 1 < len(layers):
            fill(i + 1)
        main.wait_event(ready[i])
        for x, out, buf in zip(xs, layer_outs, bufs, strict=True):
            torch.mm(x, buf.t(), out=out)
        freed[i].record(main)
    main.wait_stream(side)


def graph_ms(fn, reps: int) -> dict:
    """ms per call of ``fn`` replayed from one CUDA graph: median of ``reps`` (min, max)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()  # compile / allocate outside the capture
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    graph.replay()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return {"ms": statistics.median(times), "ms_min": min(times), "ms_max": max(times), "reps": reps}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", choices=("2b", "7b"), default="7b")
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--formats", default="int8,int4")
    args = ap.parse_args(argv)
    args.formats = [f for f in args.formats.split(",") if f]
    if not set(args.formats) <= {"int8", "int4"}:
        ap.error(f"--formats takes int8 and / or int4 (weight-only formats), got {','.join(args.formats)}")
    if not torch.cuda.is_available():
        print("bench_dequant_overlap needs a CUDA GPU: nothing measured")
        return 1
    shapes = [SHAPES[args.preset][name] for name in PROJECTIONS]
    g = torch.Generator(device="cuda").manual_seed(0)
    xs = [torch.randn(args.rows, k, device="cuda", generator=g).bfloat16() for _, k in shapes]
    outs = [[torch.empty(args.rows, n, device="cuda", dtype=torch.bfloat16) for n, _ in shapes] for _ in range(LAYERS)]
    rows = []
    print(f"{torch.cuda.get_device_name()}: {args.preset}, {LAYERS} layers x 4 projections at {args.rows} rows, ms")
    for fmt in ["bf16", *args.formats]:
        layers = [
            [random_pack(fmt, "bf16", n, k, "cuda", 100 * i + j) for j, (n, k) in enumerate(shapes)]
            for i in range(LAYERS)
        ]
        serial = graph_ms(lambda fmt=fmt, layers=layers: run_serial(fmt, layers, xs, outs), args.reps)
        rows.append({"format": fmt, "variant": "serial", **serial})
        print(f"{fmt:5s} serial  {serial['ms']:7.3f} ({serial['ms_min']:.3f}-{serial['ms_max']:.3f})")
        if fmt == "bf16":
            del layers
            continue
        want = [[o.clone() for o in layer] for layer in outs]
        scratch = [[torch.empty(n, k, device="cuda", dtype=torch.bfloat16) for n, k in shapes] for _ in range(2)]
        side = torch.cuda.Stream()
        overlap = graph_ms(
            lambda fmt=fmt, layers=layers, scratch=scratch, side=side: run_overlap(
                fmt, layers, xs, outs, scratch, side
            ),
            args.reps,
        )
        exact = all(torch.equal(o, w) for layer, wl in zip(outs, want, strict=True) for o, w in zip(layer, wl))
        scratch_gb = sum(b.numel() * b.element_size() for bufs in scratch for b in bufs) / 1e9
        rows.append({"format": fmt, "variant": "overlap", **overlap, "bit_exact": exact, "scratch_gb": scratch_gb})
        print(
            f"{fmt:5s} overlap {overlap['ms']:7.3f} ({overlap['ms_min']:.3f}-{overlap['ms_max']:.3f}) "
            f"exact={exact} scratch {scratch_gb:.2f} GB"
        )
        del layers, scratch, want
        torch.cuda.empty_cache()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"device": torch.cuda.get_device_name(), "preset": args.preset, "rows": args.rows}
    (out / "dequant_overlap.json").write_text(json.dumps({**info, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
