"""CUTLASS's Hopper GEMMs (TMA-fed, warp-specialised: ``cutlass_gemm``) at decode rows against the engine's decode
GEMV, on one GPU: does a multi-stage TMA pipeline stream 8- and 4-bit weights faster than the GEMV's register loads?

    python benchmarks/bench_decode_gemm.py --out DIR                  # 2b and 7b, rows 1 and 16, four formats

Each (preset, projection, rows, mode) as the plain op (no fusion: both sides multiply the same rows; W8A8 rows
quantized by the caller): the engine's GEMV at the shipped tile (``bench_kernels.sweep_calls``) and every tile of
the built library's GEMM for the format at most ``--max-token-rows`` tokens wide (int4: the group terms made once,
as at load), each in a CUDA graph over weight copies past L2 (``bench_kernels.graph_stats``: µs a call, median of
``--reps`` replays, min–max). Every output is checked against the GEMV's (relative error; over ``--tolerance`` it
is reported and not timed). DIR gets bench_decode_gemm.json and table.md.

Measured on the H200 (docs/benchmarks.md, twenty-ninth session): weight-only 1.3-3.7x slower than the GEMV (the
mainloop widens every weight tile in registers), W8A8 level with it at one row and up to 15 % faster at 16 on the 7b.
"""

from __future__ import annotations

import math
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_kernels import (  # noqa: E402
    MODES,
    SHAPES,
    SWEEP_X_SEED,
    decode_bench_parser,
    graph_stats,
    random_pack,
    relative_error,
    save_run,
    sweep_calls,
    weight_bytes,
)

PROJECTIONS = ("qkv", "o", "gate_up", "down")
LIBRARY_FORMAT = {"int8-a16": "w8a16", "int4-g128": "w4a16", "fp8-a8": "w8a8_fp8", "int8-a8": "w8a8_int8"}


def gemm_calls(group: tuple, tile: int, copies: int, device: str = "cuda") -> list:
    """The library GEMM of ``group``'s format at ``tile`` as closures over ``copies`` weight copies (the same packs
    and rows as ``sweep_calls``)."""
    from vlmq.engine.kernels import cutlass_gemm, quantize_activation

    preset, shape, n, k, m, mode = group
    fmt, a_mode = MODES[mode]
    x = torch.randn(
        m, k, dtype=torch.bfloat16, device=device, generator=torch.Generator(device=device).manual_seed(SWEEP_X_SEED)
    )
    xq, xs = quantize_activation(x, a_mode)
    packs = [random_pack(fmt, a_mode, n, k, device, i) for i in range(copies)]
    lib = LIBRARY_FORMAT[mode]
    if lib == "w8a16":
        return [lambda p=p: cutlass_gemm.w8a16_gemm(x, p.weight, p.scale, None, tile) for p in packs]
    if lib == "w4a16":
        terms = [cutlass_gemm.w4_group_terms(p.scale, p.zero) for p in packs]  # made once, as at load
        return [
            lambda p=p, t=t: cutlass_gemm.w4a16_gemm(x, p.weight, p.scale, p.zero, p.group_size, None, tile, t)
            for p, t in zip(packs, terms, strict=True)
        ]
    return [lambda p=p: cutlass_gemm.w8a8_gemm(xq, p.weight, p.scale, xs, None, tile) for p in packs]


def run(args) -> list[dict]:
    from vlmq.engine.kernels import cutlass_gemm

    missing = cutlass_gemm.unavailable_reason()
    if missing:
        raise SystemExit(f"CUTLASS's GEMMs are not built here: {missing}")
    records = []
    for preset in args.presets:
        for shape in PROJECTIONS:
            n, k = SHAPES[preset][shape]
            for mode in args.modes:
                fmt = MODES[mode][0]
                copies = max(1, min(64, math.ceil(args.rotate_mb * 2**20 / weight_bytes(fmt, n, k))))
                for m in args.rows:
                    group = (preset, shape, n, k, m, mode)
                    row = dict(preset=preset, shape=shape, n=n, k=k, m=m, mode=mode, copies=copies)
                    base = sweep_calls(group, None, copies)
                    want = base[0]()
                    records.append(dict(row, variant="gemv", **graph_stats(base, args.reps)))
                    del base
                    lib = LIBRARY_FORMAT[mode]
                    for tile in range(cutlass_gemm.tiles(lib)):
                        shape_of = cutlass_gemm.tile_shape(tile, lib)
                        if shape_of[1] > args.max_token_rows or (mode == "int4-g128" and 128 % shape_of[3]):
                            continue
                        rec = dict(row, variant="cutlass", tile=tile, tile_shape=list(shape_of))
                        try:
                            calls = gemm_calls(group, tile, copies)
                            rec["rel_err"] = relative_error(calls[0](), want)
                        except RuntimeError as exc:  # a tile the library refuses for the shape: recorded
                            records.append(dict(rec, us=None, note=str(exc)[:200]))
                            continue
                        good = rec["rel_err"] < args.tolerance
                        rec.update(graph_stats(calls, args.reps) if good else dict(us=None, note="wrong output"))
                        records.append(rec)
                        del calls
                    torch.cuda.empty_cache()
                    print(table(records).splitlines()[-1], flush=True)
    return records


def table(records: list[dict]) -> str:
    lines = [
        "| preset | projection | mode | rows | GEMV µs (min–max) | TB/s | best CUTLASS tile (W, T, cluster, K) | "
        "µs (min–max) | TB/s | × GEMV |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for base in (r for r in records if r["variant"] == "gemv"):
        key = (base["preset"], base["shape"], base["mode"], base["m"])
        rivals = [
            r
            for r in records
            if r["variant"] == "cutlass" and (r["preset"], r["shape"], r["mode"], r["m"]) == key and r["us"]
        ]
        best = min(rivals, key=lambda r: r["us"]) if rivals else None
        wb = weight_bytes(MODES[base["mode"]][0], base["n"], base["k"])
        text = f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {base['us']:.2f} ({base['us_min']:.2f}–"
        text += f"{base['us_max']:.2f}) | {wb / base['us'] / 1e6:.2f} | "
        if best:
            text += f"{best['tile']} {tuple(best['tile_shape'])} | {best['us']:.2f} ({best['us_min']:.2f}–"
            text += f"{best['us_max']:.2f}) | {wb / best['us'] / 1e6:.2f} | {best['us'] / base['us']:.3f} |"
        else:
            text += "- | - | - | - |"
        lines.append(text)
    wrong = [r for r in records if r.get("note")]
    if wrong:
        lines.append("")
        lines += [f"- {r['preset']} {r['shape']} {r['mode']} m={r['m']} tile {r['tile']}: {r['note']}" for r in wrong]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = decode_bench_parser(__doc__.split("\n")[0], reps=30)
    parser.add_argument("--modes", type=lambda s: s.split(","), default=list(LIBRARY_FORMAT))
    parser.add_argument("--max-token-rows", type=int, default=64, help="library tiles at most this many tokens wide")
    args = parser.parse_args(argv)
    bad = [m for m in args.modes if m not in LIBRARY_FORMAT]
    if bad:
        parser.error(f"--modes {','.join(bad)}: not a library GEMM's mode; use some of {','.join(LIBRARY_FORMAT)}")
    records = run(args)
    save_run(args.out, "bench_decode_gemm", records, table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
