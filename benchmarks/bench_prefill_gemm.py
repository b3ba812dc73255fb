"""Quantized prefill GEMMs on the GPU: BF16 cuBLAS, dequantize-then-cuBLAS (``prefill.dequant_linear``), the
library W8A8 calls (``_int_mm``, ``_scaled_mm``), the engine's generic Triton tile (``prefill_linear(path="triton")``),
the mixed-input GEMM (``prefill.mixed_linear``) over a list of tiles and, where the library is built, CUTLASS's
(``cutlass_gemm``, every tile: int8 / int4 weight-only and FP8 / int8 W8A8),
for a preset's four decoder projections at the prefill's row count. Prints and writes a
markdown table (us a call in a CUDA graph, median of ``triton.testing.do_bench_cudagraph``) and the
per-layer and 28-layer sums, plus the largest error against the dequantize path.

    PYTHONPATH=src python benchmarks/bench_prefill_gemm.py --presets 7b,2b --rows 300 --out OUT
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from functools import partial

PROJECTIONS = {  # (N, K) of q/k/v, o, gate/up, down
    "2b": {"qkv": (2048, 1536), "o": (1536, 1536), "gate_up": (17920, 1536), "down": (1536, 8960)},
    "7b": {"qkv": (4608, 3584), "o": (3584, 3584), "gate_up": (37888, 3584), "down": (3584, 18944)},
}
LAYERS = {"2b": 28, "7b": 28}
TILES = [  # (BM, BN, BK, warps, stages, swap, TMA)
    (128, 128, 64, 8, 4, True, False),
    (64, 128, 64, 4, 4, False, False),
    (128, 256, 64, 8, 3, False, True),
    (128, 128, 64, 8, 4, False, True),
    (128, 128, 64, 4, 4, False, True),
    (64, 256, 64, 8, 3, False, True),
    (128, 64, 64, 4, 4, False, True),
    (128, 128, 64, 8, 4, True, True),
    (128, 256, 64, 8, 3, True, True),
    (64, 128, 64, 4, 4, True, True),
]
INT8_TILES = [  # W8A8 (int8 x int8 or e4m3 x e4m3): K 32 a wgmma, so BK 128 natural
    (64, 128, 128, 4, 4, False, True),
    (64, 128, 128, 4, 3, False, True),
    (64, 128, 128, 4, 5, False, True),
    (64, 128, 128, 4, 4, False, False),
    (64, 128, 256, 4, 3, False, True),
    (64, 64, 128, 4, 4, False, True),
    (64, 256, 128, 4, 3, False, True),
    (64, 128, 128, 8, 4, False, True),
    (128, 128, 128, 8, 3, False, False),
    (128, 128, 128, 8, 4, False, False),
    (128, 256, 128, 8, 3, False, True),
    (128, 128, 128, 4, 4, False, True),
]


W8A8 = {"w8a8": "int8", "fp8a8": "fp8"}  # format -> activation quantization


def generic_table_tiles() -> dict:
    """{(mode, N, K, M): the generic kernel's measured tile} of the shipped tile table's prefill entries."""
    from vlmq.engine.kernels.gemv import generic_prefill_tile, tile_table

    entries = tile_table().get("prefill", [])
    return {(t["mode"], t["n"], t["k"], t["m"]): generic_prefill_tile(t) for t in entries if t["tile"] is not None}


WEIGHT_ONLY = {"int8-a16": "int8", "int4-g128": "int4z"}  # tile table mode -> the format whose records judge it


def apply_mixed(table: dict, records: list) -> list:
    """Set (or clear) each measured prefill entry's faster GEMM in ``table`` (the tile table's dict) from ``records``
    (one run's): for W8A8 entries the best prefill-GEMM tile (``mixed``) where it beat both the library call and the
    generic kernel's tile; for weight-only ones the best CUTLASS tile (``cutlass``) where it beat dequantize-then-
    cuBLAS and the generic tile (int4: with its group terms made at the call, as the engine runs it). Returns (mode,
    shape, what was set) per entry the records measured."""
    changes = []
    for entry in table.get("prefill", []):
        mode = entry["mode"]
        fmt = {"int8-a8": "w8a8", "fp8-a8": "fp8a8", **WEIGHT_ONLY}.get(mode)
        recs = [
            r
            for r in records
            if r["format"] == fmt and (r["n"], r["k"], r["rows"]) == (entry["n"], entry["k"], entry["m"])
        ]
        if not recs:
            continue
        prefixes = ("cutlass ",) if mode in WEIGHT_ONLY else ("mixed", "cutlass ")
        candidates = [r for r in recs if r["path"].startswith(prefixes) and "at load" not in r["path"]]
        others = [r for r in recs if not r["path"].startswith(("mixed", "cutlass"))]
        if not candidates or not others:
            continue
        best = min(candidates, key=lambda r: r["us"][0])
        rival = min(others, key=lambda r: r["us"][0])
        key = "mixed" if best["path"].startswith("mixed") else "cutlass"
        for stale in {"mixed", "cutlass"}.intersection(entry):  # measured_prefill reads cutlass before mixed
            del entry[stale]
        if best["us"][0] < rival["us"][0]:
            tile = best["tile"] if key == "mixed" else int(best["path"].split()[1])
            entry[key] = {"tile": list(tile) if key == "mixed" else tile, "us": round(best["us"][0], 2),
                          "rival": rival["path"], "rival_us": round(rival["us"][0], 2)}  # fmt: skip
        changes.append((mode, entry["shape"], entry.get(key)))
    return changes


def load_records(path) -> list:
    """A run's records (``prefill_gemm.jsonl``)."""
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]


def reapply_recorded(table: dict, root) -> dict:
    """``table`` (e.g. bench_kernels' table rebuilt from its sweeps) with the mixed tiles of every recorded run in
    its ``prefill_gemm_sources`` (paths under ``root``) applied again, in order."""
    for source in table.get("prefill_gemm_sources", []):
        apply_mixed(table, load_records(pathlib.Path(root) / source))
    return table


def write_tiles(records: list, path: str, source: str) -> list:
    """``apply_mixed`` on the tile table at ``path``, the run recorded as ``source`` (its results file as it will
    be committed, relative to the repository root) in the table's ``prefill_gemm_sources``."""
    table = json.loads(pathlib.Path(path).read_text())
    changes = apply_mixed(table, records)
    sources = table.setdefault("prefill_gemm_sources", [])
    if source not in sources:
        sources.append(source)
    pathlib.Path(path).write_text(json.dumps(table, indent=1) + "\n")
    return changes


def weights(fmt: str, n: int, k: int, group: int, device):
    import torch

    from vlmq.engine.kernels import pack_int4

    if fmt == "bf16k":  # bf16 weights through the mixed kernel: the Triton GEMM's own speed
        return (torch.randn(n, k, device=device) * 0.02).bfloat16(), torch.ones(n, device=device), None
    if fmt == "fp8a8":
        w = (torch.randn(n, k, device=device) * 50).clamp(-440, 440).to(torch.float8_e4m3fn)
        return w, torch.rand(n, device=device) * 1e-3, None
    if fmt in ("int8", "w8a8"):
        return (
            torch.randint(-127, 128, (n, k), dtype=torch.int8, device=device),
            torch.rand(n, device=device) * 1e-3,
            None,
        )
    q = pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8, device=device))
    scale = (torch.rand(n, k // group, device=device) * 0.02).bfloat16()
    zero = torch.randint(-8, 8, (n, k // group), dtype=torch.int8, device=device) if fmt == "int4z" else None
    return q, scale, zero


def add(sums: dict, key: tuple, us: float) -> None:
    """Accumulate a projection's time into a path's per-layer sum, counting the projections summed (a path that
    ran on only some of them -- the generic tile where the table has one -- does not make a layer)."""
    total, count = sums.get(key, (0.0, 0))
    sums[key] = (total + us, count + 1)


def timed(fn):
    from triton.testing import do_bench_cudagraph

    # in a CUDA graph, as the engine runs prefill: no host launch cost in the figure
    p50, p10, p90 = do_bench_cudagraph(fn, rep=30, quantiles=[0.5, 0.1, 0.9])
    return 1000 * p50, 1000 * p10, 1000 * p90


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="7b,2b")
    parser.add_argument("--rows", default="300")
    parser.add_argument("--formats", default="w8a8,bf16k,int8,int4,int4z")
    parser.add_argument("--group", type=int, default=128)
    parser.add_argument("--tiles", default="all", help="'all', 'none' or indices into TILES, comma-separated")
    parser.add_argument("--out", default=None)
    parser.add_argument("--write-tiles", default=None, help="tile table to update with the W8A8 prefill tiles won")
    parser.add_argument(
        "--tiles-source", default=None, help="this run's results file as committed (default: OUT/prefill_gemm.jsonl)"
    )
    args = parser.parse_args()

    import torch

    from vlmq.engine.kernels.gemv import MixedTile, gemv
    from vlmq.engine.kernels.prefill import dequant_linear, generic_tile_config, mixed_linear, prefill_linear
    from vlmq.engine.kernels.w8 import quantize_activation, w8_linear_reference

    dev = torch.device("cuda")
    named = {"all": TILES, "none": []}
    picked = named[args.tiles] if args.tiles in named else [TILES[int(i)] for i in args.tiles.split(",")]
    tiles = (picked, INT8_TILES)
    from vlmq.engine.kernels import cutlass_gemm

    cutlass_missing = cutlass_gemm.unavailable_reason()
    print(f"CUTLASS prefill GEMMs: {cutlass_missing or 'available'}", flush=True)
    generic_tiles = generic_table_tiles()
    records = []
    lines = [f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", ""]
    for preset in args.presets.split(","):
        for m in (int(r) for r in args.rows.split(",")):
            for name, (n, k) in PROJECTIONS[preset].items():
                torch.manual_seed(0)
                x = torch.randn(m, k, device=dev).bfloat16()
                wb = (torch.randn(n, k, device=dev) * 0.02).bfloat16()
                base = {"preset": preset, "rows": m, "proj": name, "n": n, "k": k}
                t = timed(partial(torch.mm, x, wb.t()))
                records.append({**base, "format": "bf16", "path": "cublas", "us": t})
                for fmt in args.formats.split(","):
                    w, s, z = weights(fmt, n, k, args.group, dev)
                    group = args.group if fmt.startswith("int4") else 0
                    xs = None
                    if fmt in W8A8:  # SmoothQuant's int8 rows, or FP8 W8A8's e4m3 ones
                        xq, xs = quantize_activation(x, W8A8[fmt])
                        ref = w8_linear_reference(xq, w, s, xs, None, torch.float32)
                        common = (xq, w, s, None, 0, None)
                        mode = f"{W8A8[fmt]}-a8"
                        library = "int_mm" if fmt == "w8a8" else "scaled_mm"
                        paths = {library: partial(prefill_linear, *common, xs, torch.bfloat16, path=library)}
                        w8a8 = f"w8a8_{W8A8[fmt]}"  # the library's format name
                        for i in range(cutlass_gemm.tiles(w8a8) if cutlass_missing is None else 0):
                            paths[f"cutlass {i}"] = partial(cutlass_gemm.w8a8_gemm, xq, w, s, xs, None, i)
                        generic = generic_tiles.get((mode, n, k, m))
                        if generic is not None:
                            cfg = generic_tile_config(w, m, k, 0, generic)
                            paths["generic tile"] = partial(gemv, *common, x_scale=xs, config=cfg)
                    else:
                        ref = (x.float() @ w.float().t()) if fmt == "bf16k" else None
                        ref = dequant_linear(x, w, s, z, group, None, torch.float32) if ref is None else ref
                        common = (x, w, s, z, group, None)
                        paths = (
                            {}
                            if fmt == "bf16k"
                            else {
                                "dequant": partial(dequant_linear, *common, torch.bfloat16),
                                "triton": partial(prefill_linear, *common, None, torch.bfloat16, path="triton"),
                            }
                        )
                        if fmt == "int8" and cutlass_missing is None:
                            for i in range(cutlass_gemm.tiles()):
                                paths[f"cutlass {i}"] = partial(cutlass_gemm.w8a16_gemm, x, w, s, None, i)
                        if fmt.startswith("int4") and cutlass_missing is None and cutlass_gemm.tiles("w4a16"):
                            gemm4 = partial(cutlass_gemm.w4a16_gemm, x, w, s, z, group, None)
                            for i in range(cutlass_gemm.tiles("w4a16")):
                                paths[f"cutlass {i}"] = partial(gemm4, i)  # group terms made at the call
                            # what making them once at load would save (not what the engine runs)
                            best_w4 = cutlass_gemm.TILE_PREFERENCE["w4a16"][0]
                            paths[f"cutlass {best_w4}, terms at load"] = partial(
                                gemm4, best_w4, cutlass_gemm.w4_group_terms(s, z)
                            )
                    mixed_tiles = {f"mixed {tile}": tile for tile in tiles[fmt in W8A8]}
                    for path, tile in mixed_tiles.items():
                        paths[path] = partial(mixed_linear, *common, torch.bfloat16, MixedTile(*tile), x_scale=xs)
                    for path, fn in paths.items():
                        try:
                            err = ((fn().float() - ref).abs().max() / ref.abs().max()).item()
                            t = timed(fn)
                        except Exception as exc:  # a tile the compiler or the GPU refuses: recorded, not fatal
                            print(
                                f"{preset} {name} {fmt} {path}: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr
                            )
                            continue
                        tile = mixed_tiles.get(path)
                        records.append({**base, "format": fmt, "path": path, "us": t, "rel_err": err, "tile": tile})
                        print(f"{preset} m={m} {name} {fmt} {path}: {t[0]:.1f} us (err {err:.2e})", flush=True)
    # best mixed tile per (preset, rows, proj, format), and per-layer sums
    table = ["| preset | rows | proj | bf16 cuBLAS | format | other paths | best mixed | tile |", "|---" * 8 + "|"]
    sums = {}
    for key in sorted({(r["preset"], r["rows"], r["proj"]) for r in records}):
        recs = [r for r in records if (r["preset"], r["rows"], r["proj"]) == key]
        bf = next(r["us"][0] for r in recs if r["format"] == "bf16")
        add(sums, (key[0], key[1], "bf16", "cublas"), bf)
        for fmt in args.formats.split(","):
            fr = [r for r in recs if r["format"] == fmt]
            if not fr:
                continue
            mixed = [r for r in fr if r["path"].startswith("mixed")]
            best = min(mixed, key=lambda r: r["us"][0]) if mixed else None
            others = {r["path"]: r["us"][0] for r in fr if not r["path"].startswith("mixed")}
            if best:
                others["best mixed"] = best["us"][0]
            engine_cutlass = [v for p, v in others.items() if p.startswith("cutlass ") and "at load" not in p]
            if engine_cutlass:
                others["best cutlass"] = min(engine_cutlass)
            # what --write-tiles makes the engine run: the fastest of every path it may pick for this shape
            others["best of all"] = min(v for p, v in others.items() if "at load" not in p)
            for path, v in others.items():
                add(sums, (key[0], key[1], fmt, path), v)
            listed = ", ".join(f"{p} {v:.1f}" for p, v in others.items() if p not in ("best mixed", "best of all"))
            table.append(
                f"| {key[0]} | {key[1]} | {key[2]} | {bf:.1f} | {fmt} | {listed} | "
                f"{best['us'][0] if best else float('nan'):.1f} | {best['path'][6:] if best else '-'} |"
            )
    table += ["", "| preset | rows | format | path | projections | layer us | 28 layers ms |", "|---" * 7 + "|"]
    for (preset, m, fmt, path), (v, count) in sorted(sums.items()):
        partial_sum = "" if count == len(PROJECTIONS[preset]) else " (not all)"
        table.append(
            f"| {preset} | {m} | {fmt} | {path} | {count}{partial_sum} | {v:.1f} | {v * LAYERS[preset] / 1000:.2f} |"
        )
    text = "\n".join(lines + table)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "prefill_gemm.md"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(args.out, "prefill_gemm.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
    if args.write_tiles:
        source = args.tiles_source or os.path.join(args.out or ".", "prefill_gemm.jsonl")
        for change in write_tiles(records, args.write_tiles, source):
            print("tile table:", *change)
    return 0


if __name__ == "__main__":
    sys.exit(main())
