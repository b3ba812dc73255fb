"""Weight-only prefill: dequantization in L2-sized slices, and on a second stream, against BF16, on a CUDA GPU.

    PYTHONPATH=src python benchmarks/bench_dequant_overlap.py --out DIR [--preset 7b] [--rows 300] [--reps 10]

Weight-only recipes prefill through ``prefill.dequant_linear``: the weight is dequantized to bf16 (a Triton
pass, memory-bound) and multiplied by cuBLAS. Dequantizing the whole weight at once writes it to HBM and reads it
back (7b: ~5 ms of a 17 ms first token on the H200, sixth session), and the Triton mixed-input GEMM tiles tried
were slower still. Timed here for the preset's decoder layers (distinct random weights per layer, so no cache
helps), each variant captured in one CUDA graph, median of ``reps`` replays (min-max):

- ``bf16``: cuBLAS on bf16 weights (the bound);
- ``whole``: each weight dequantized whole, then multiplied (the engine's path before slices);
- ``overlap``: ``whole`` with layer L+1's weights dequantized on a side stream into a second scratch while layer
  L multiplies;
- ``sliceNMB`` (``--slice-mb``): the engine's ``dequant_linear`` with ``chunk_bytes`` N MB: slices of output rows
  dequantized into a small scratch, each multiplied as soon as written, so the bf16 slice is read back from the
  L2 cache (~50 MB on an H100 / H200);
- ``sliceNMB+overlap``: those slices with slice i+1 dequantized on the side stream while slice i multiplies;
- ``engine``: ``prefill_linear`` as the engine calls it: CUTLASS's mixed-input GEMM where the tile table has a
  ``cutlass`` tile for the shape and the library is built (an int4 GEMM making its group terms first, in its own
  launch), else whole dequantization then cuBLAS (the 7b int4 of the fifteenth session: q/k/v and o dequantized,
  gate/up and down through CUTLASS; its first token spent 539 us dequantizing and 173 us on group terms, 56
  launches each, on the critical path);
- ``engine+side``: that mix with layer L + 1's dequantized weights and group terms made on a side stream while
  layer L multiplies, by the engine's own ``prefill.SidePreparation`` (``VLMQ_PREFILL_PREPARE=side``): whether
  CUTLASS's compute-bound mainloop leaves them room (the whole-weight ``overlap`` above gained nothing: every GEMM
  there was already bandwidth-bound);
- ``engine+shuffle`` (int4): ``engine+side`` with the CUTLASS weights also made in CUTLASS's shuffled layout on the
  side stream (``VLMQ_PREFILL_PREPARE=shuffle``), their tiles' twins reading them: whether the twins' 12-17 %
  outlast the side stream's extra read and write of those weights.

Every variant's outputs are compared with ``whole``'s (``engine+side``'s with ``engine``'s): ``exact`` (bit for
bit) or, where a GEMM takes another kernel (another summation order), the largest difference relative to the
output's range. Prints one line per variant; DIR/dequant_overlap.json. ``--slice-mb ''`` skips the slices.

Measured on the H200 (results under benchmarks/results/h200-2026-11-30g/, 7b, ms): bf16 6.22; int8 whole 11.53,
overlap 11.41, 32 / 16 / 8 MB slices 13.90 / 16.62 / 26.23 (+overlap 14.61 / 16.27 / 23.13); int4 alike. So the
engine dequantizes whole weights (``dequant_linear``'s docstring).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import pathlib
import statistics

import torch

from bench_kernels import SHAPES, random_pack  # this folder's shape table and random packs (the engine's layouts)

LAYERS = 28  # decoder layers of qwen2-vl-2b and -7b alike
PROJECTIONS = ("qkv", "o", "gate_up", "down")


def row_slice(pack, start: int, stop: int):
    """Output rows [start, stop) of a pack (int8 [N, K] / packed int4 [N, K // 8] weights, per-row scales)."""
    zero = None if pack.zero is None else pack.zero[start:stop]
    return pack._replace(weight=pack.weight[start:stop], scale=pack.scale[start:stop], zero=zero)


def layer_units(layers, xs, outs):
    """One unit a layer: its four (pack, x, out) GEMMs (the layer-level overlap)."""
    return [list(zip(layer, xs, layer_outs, strict=True)) for layer, layer_outs in zip(layers, outs, strict=True)]


def chunk_units(layers, xs, outs, chunk_bytes: int):
    """One unit per slice of each projection, as ``dequant_linear`` slices it: (row slice, x, its output columns)."""
    from vlmq.engine.kernels.prefill import dequant_slices

    units = []
    for layer, layer_outs in zip(layers, outs, strict=True):
        for pack, x, out in zip(layer, xs, layer_outs, strict=True):
            slices = dequant_slices(pack.weight.shape[0], x.shape[1], chunk_bytes)
            units += [[(row_slice(pack, a, b), x, out[:, a:b])] for a, b in slices]
    return units


def scratch_for(units):
    """Two scratch sets, each with a bf16 buffer as large as every unit's weights, position by position."""
    sizes = [max(u[j][0].weight.shape[0] * u[j][1].shape[1] for u in units if j < len(u)) for j in range(len(units[0]))]
    device = units[0][0][1].device
    return [[torch.empty(size, device=device, dtype=torch.bfloat16) for size in sizes] for _ in range(2)]


def run_units(units, scratch, side):
    """Unit i's GEMMs on the current stream from one scratch set while ``side`` dequantizes unit i+1's weights
    into the other; returns nothing (the units' outputs are views of the caller's buffers)."""
    from vlmq.engine.kernels.prefill import dequantize_weight

    main = torch.cuda.current_stream()
    ready = [torch.cuda.Event() for _ in units]
    freed = [torch.cuda.Event() for _ in units]

    def fill(i):
        bufs = []
        with torch.cuda.stream(side):
            if i >= 2:
                side.wait_event(freed[i - 2])  # the buffer's last reader: unit i - 2
            for (pack, x, _), flat in zip(units[i], scratch[i % 2], strict=False):
                n, k = pack.weight.shape[0], x.shape[1]
                buf = flat[: n * k].view(n, k)
                bufs.append(dequantize_weight(pack.weight, pack.scale, pack.zero, pack.group_size, buf.dtype, buf))
            ready[i].record(side)
        return bufs

    side.wait_stream(main)
    pending = fill(0)
    for i, unit in enumerate(units):
        bufs, pending = pending, (fill(i + 1) if i + 1 < len(units) else None)
        main.wait_event(ready[i])
        for (_, x, out), buf in zip(unit, bufs, strict=True):
            torch.mm(x, buf.t(), out=out)
        freed[i].record(main)
    main.wait_stream(side)


def graph_ms(fn, reps: int) -> dict:
    """ms per call of ``fn`` replayed from one CUDA graph: median of ``reps`` (min, max)."""
    from vlmq.engine.graphs import capture_graph

    graph, _ = capture_graph(fn)  # compiled and allocated outside the capture
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
    ap.add_argument("--slice-mb", default="8,16,32", help="dequant_linear's slice sizes, MB (comma-separated)")
    args = ap.parse_args(argv)
    args.formats = [f for f in args.formats.split(",") if f]
    if not set(args.formats) <= {"int8", "int4"}:
        ap.error(f"--formats takes int8 and / or int4 (weight-only formats), got {','.join(args.formats)}")
    try:
        args.slice_mb = [int(c) for c in args.slice_mb.split(",") if c]
    except ValueError:
        ap.error(f"--slice-mb takes whole numbers of MB, e.g. 8,16, got {args.slice_mb!r}")
    if any(mb <= 0 for mb in args.slice_mb):
        ap.error(f"--slice-mb takes positive sizes, got {args.slice_mb}")
    if not torch.cuda.is_available():
        print("bench_dequant_overlap needs a CUDA GPU: nothing measured")
        return 1
    from vlmq.engine.kernels.prefill import SidePreparation, dequant_linear, prefill_linear, prefill_route, work_ahead

    shapes = [SHAPES[args.preset][name] for name in PROJECTIONS]
    g = torch.Generator(device="cuda").manual_seed(0)
    xs = [torch.randn(args.rows, k, device="cuda", generator=g).bfloat16() for _, k in shapes]
    outs = [[torch.empty(args.rows, n, device="cuda", dtype=torch.bfloat16) for n, _ in shapes] for _ in range(LAYERS)]
    rows = []
    print(f"{torch.cuda.get_device_name()}: {args.preset}, {LAYERS} layers x 4 projections at {args.rows} rows, ms")

    def report(fmt, name, timing, got=None, want=None):
        row = {"format": fmt, "variant": name, **timing}
        line = f"{fmt:5s} {name:16s} {timing['ms']:7.3f} ({timing['ms_min']:.3f}-{timing['ms_max']:.3f})"
        if want is not None:
            pairs = [(o, w) for gl, wl in zip(got, want, strict=True) for o, w in zip(gl, wl, strict=True)]
            row["bit_exact"] = all(torch.equal(o, w) for o, w in pairs)
            row["max_rel_diff"] = max(
                ((o.float() - w.float()).abs().max() / w.float().abs().max()).item() for o, w in pairs
            )
            line += f" exact={row['bit_exact']} rel={row['max_rel_diff']:.1e}"
        rows.append(row)
        print(line)

    for fmt in ["bf16", *args.formats]:
        layers = [
            [random_pack(fmt, "bf16", n, k, "cuda", 100 * i + j) for j, (n, k) in enumerate(shapes)]
            for i in range(LAYERS)
        ]
        if fmt == "bf16":
            report(
                fmt,
                "cublas",
                graph_ms(
                    lambda layers=layers: [[torch.mm(x, p.weight.t()) for p, x in zip(layer, xs)] for layer in layers],
                    args.reps,
                ),
            )
            del layers
            continue

        def sliced(chunk_bytes, fmt=fmt, layers=layers):
            return [
                [
                    dequant_linear(x, p.weight, p.scale, p.zero, p.group_size, None, torch.bfloat16, chunk_bytes)
                    for p, x in zip(layer, xs)
                ]
                for layer in layers
            ]

        want = sliced(None)
        report(fmt, "whole", graph_ms(lambda sliced=sliced: sliced(None), args.reps))
        # the engine's own mix (prefill_route: CUTLASS where the tile table says, else whole dequantization), and
        # that mix with the weight-side work of layer L + 1 on a side stream (the engine's SidePreparation)
        weights = [[(p.weight, p.scale, p.zero, p.group_size) for p in layer] for layer in layers]
        routes = [prefill_route(x, w, g).path for (w, _, _, g), x in zip(weights[0], xs)]
        ahead = {pos: what for pos, *_, what in work_ahead(weights, args.rows, torch.bfloat16, xs[0].device)[0]}
        print(f"{fmt} engine routes: " + ", ".join(
            f"{name} {route}" + (f" ({ahead[i]} ahead)" if i in ahead else "")
            for i, (name, route) in enumerate(zip(PROJECTIONS, routes))
        ))  # fmt: skip

        def engine(layers=layers, weights=weights, prep=None):
            ahead = prep.start(prep.plan(weights, args.rows, torch.bfloat16), torch.bfloat16) if prep else None
            outs = []
            try:
                for i, layer in enumerate(layers):
                    with ahead.layer(i) if ahead is not None else contextlib.nullcontext():
                        outs.append([prefill_linear(x, p.weight, p.scale, p.zero, p.group_size, None, None,
                                                    torch.bfloat16) for p, x in zip(layer, xs)])  # fmt: skip
            finally:
                if ahead is not None:
                    ahead.finish()
            return outs

        engine_want = engine()
        report(fmt, "engine", graph_ms(engine, args.reps), engine_want, want)
        prep = SidePreparation(xs[0].device)
        side = functools.partial(engine, prep=prep)
        report(fmt, "engine+side", graph_ms(side, args.reps), side(), engine_want)
        if fmt == "int4":  # and with the CUTLASS weights made in the shuffled layout too (their tiles' twins read them)
            shuffled = functools.partial(engine, prep=SidePreparation(xs[0].device, shuffle=True))
            report(fmt, "engine+shuffle", graph_ms(shuffled, args.reps), shuffled(), engine_want)
            del shuffled
        del prep, engine_want
        variants = [("overlap", layer_units(layers, xs, outs), None)]
        for mb in args.slice_mb:
            variants += [
                (f"slice{mb}MB", None, mb << 20),
                (f"slice{mb}MB+overlap", chunk_units(layers, xs, outs, mb << 20), None),
            ]
        for name, units, chunk_bytes in variants:
            if units is None:
                report(
                    fmt,
                    name,
                    graph_ms(lambda c=chunk_bytes, sliced=sliced: sliced(c), args.reps),
                    sliced(chunk_bytes),
                    want,
                )
                continue
            scratch, side = scratch_for(units), torch.cuda.Stream()
            fn = lambda units=units, scratch=scratch, side=side: run_units(units, scratch, side)  # noqa: E731
            timing = graph_ms(fn, args.reps)
            for layer in outs:
                for o in layer:
                    o.zero_()
            fn()
            torch.cuda.synchronize()
            report(fmt, name, timing, outs, want)
            del scratch
        del layers, want
        torch.cuda.empty_cache()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"device": torch.cuda.get_device_name(), "preset": args.preset, "rows": args.rows}
    (out / "dequant_overlap.json").write_text(json.dumps({**info, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
