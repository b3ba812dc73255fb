"""The int4 tensor-core decode GEMV (``cutlass/w4_gemv.cu``) against the engine's Triton tiles, on one GPU.

    python benchmarks/bench_w4_mma.py --out DIR                         # 2b and 7b, rows 1 and 16
    python benchmarks/bench_w4_mma.py --out DIR --write-tiles --tiles-out DIR/tiles.json
    python benchmarks/bench_w4_mma.py --candidate-table FILE --adopt "2b o:16" "7b o:16"   # an A/B's table, no timing

Each (preset, projection, rows) in the form the engine runs it (``bench_kernels.sweep_calls`` fused: RMSNorm before
q/k/v and gate/up, SiLU·mul, the residual add; int4 group 128 with zero points): the shipped Triton tile
(``$VLMQ_W4_MMA=off``) and every configuration the built library has (K split over CTAs too where row blocks are
few: ``candidates``), each in a CUDA graph over weight copies past
L2 (``bench_kernels.graph_stats``: µs a call, median of ``--reps`` replays, min–max). Each configuration's output is
checked against the Triton tile's first (relative error; over ``--tolerance`` it is reported and not written).
``--write-tiles``: a copy of the shipped tile table whose ``w4_mma`` entries are the fastest configuration per shape
and row bucket where it beat the Triton tile (``gemv.measured_mma`` reads them), written to ``--tiles-out``: a
candidate table for a whole-step A/B (``bench_decode_ab.py --env VLMQ_TILES``), never the shipped one, whose entries
come only from a recorded run and the A/Bs that adopted them (``w4_mma_source``, ``w4_mma_adopted``:
``reapply_recorded``). DIR gets bench_w4_mma.json and table.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_kernels import (  # noqa: E402
    SHAPES,
    decode_bench_parser,
    graph_stats,
    relative_error,
    save_run,
    sweep_calls,
    weight_bytes,
)
from kernel_sass import SMS  # noqa: E402

PROJECTIONS = ("qkv", "o", "gate_up", "down")


def run(args) -> list[dict]:
    from vlmq.engine.kernels.cutlass_gemm import unavailable_reason, w4_gemv_configs
    from vlmq.engine.kernels.gemv import MMA_ENV, mma_config

    if not w4_gemv_configs():
        raise SystemExit(f"the int4 tensor-core GEMV is not built here: {unavailable_reason()}")
    os.environ[MMA_ENV] = "off"  # the baseline: the Triton tiles (explicit configs below bypass the setting)
    records = []
    for preset in args.presets:
        for shape in PROJECTIONS:
            n, k = SHAPES[preset][shape]
            copies = max(1, min(64, math.ceil(args.rotate_mb * 2**20 / weight_bytes("int4", n, k))))
            for m in args.rows:
                group = (preset, shape, n, k, m, "int4-g128")
                base = sweep_calls(group, None, copies, fused=True)
                want = base[0]()
                row = dict(preset=preset, shape=shape, n=n, k=k, m=m, copies=copies)
                records.append(dict(row, variant="triton", **graph_stats(base, args.reps)))
                del base
                for tile, split in candidates(n, k):
                    calls = sweep_calls(group, mma_config(tile, m, split), copies, fused=True)
                    err = relative_error(calls[0](), want)
                    rec = dict(row, variant="mma", config=[int(v) for v in tile] + [split], rel_err=err)
                    rec.update(
                        graph_stats(calls, args.reps) if err < args.tolerance else dict(us=None, note="wrong output")
                    )
                    records.append(rec)
                    del calls
                torch.cuda.empty_cache()
                print(table(records).splitlines()[-1], flush=True)
    return records


def candidates(n: int, k: int) -> list[tuple]:
    """(configuration, K split) pairs to time: every built configuration whole, and those of four or more warps with
    the scales on the sums split over 2-8 CTAs a row block where its row blocks are fewer than two a SM (each slice
    at least 4 chunks)."""
    from vlmq.engine.kernels.cutlass_gemm import w4_gemv_configs

    out = []
    for tile in sorted(w4_gemv_configs()):
        blocks = -(-n // (16 * tile.row_blocks))
        wide = tile.warps >= 4 and tile.post and blocks < 2 * SMS
        splits = [1] + [s for s in (2, 4, 8) if wide and k // 128 >= 4 * s]
        out += [(tile, s) for s in splits]
    return out


def best_tiles(records: list[dict]) -> list[dict]:
    """The fastest configuration per (N, K, row bucket) where it beat the Triton tile at those rows."""
    out = []
    triton = {(r["n"], r["k"], r["m"]): r for r in records if r["variant"] == "triton"}
    for key, base in sorted(triton.items()):
        rivals = [r for r in records if r["variant"] == "mma" and (r["n"], r["k"], r["m"]) == key and r["us"]]
        if not rivals:
            continue
        best = min(rivals, key=lambda r: r["us"])
        if best["us"] < base["us"]:
            rb, nw, pf, post, split = best["config"]
            m = 1 if best["m"] <= 8 else 16
            shape = f"{best['preset']} {best['shape']}"
            entry = dict(n=key[0], k=key[1], m=m, shape=shape, row_blocks=rb, warps=nw, in_flight=pf, post=bool(post))
            entry["split"] = split
            out.append(entry | dict(us=round(best["us"], 2), triton_us=round(base["us"], 2)))
    return out


def adopted_tiles(records: list[dict], adopted: list[dict]) -> list[dict]:
    """``best_tiles`` of a recorded run, kept only where a whole-decode-step A/B adopted them (``adopted``: {"shape",
    "m", "ab"}: the preset's projection, the row bucket and the A/B's results file): a kernel faster alone may make
    the step slower (the twenty-ninth session's four 16-row entries: batch 16 1.375 -> 1.410 ms/token)."""
    keep = {(a["shape"], a["m"]) for a in adopted}
    return [entry for entry in best_tiles(records) if (entry["shape"], entry["m"]) in keep]


def reapply_recorded(table: dict, root) -> dict:
    """``table`` with its ``w4_mma`` entries made again from the run recorded in its ``w4_mma_source`` (a path under
    ``root``) and its ``w4_mma_adopted`` list; a table without a source keeps none."""
    source = table.get("w4_mma_source")
    if source is None:
        table.pop("w4_mma", None)
        return table
    records = json.loads((pathlib.Path(root) / source).read_text())["records"]
    table["w4_mma"] = adopted_tiles(records, table.get("w4_mma_adopted", []))
    return table


def candidate_table(shipped: dict, adopt: list[tuple[str, int]], root) -> dict:
    """``shipped`` with exactly ``adopt``'s (projection, row bucket) entries from its recorded run, e.g. ("7b o",
    16): a table for a whole-step A/B (``bench_decode_ab.py --env VLMQ_TILES``) made when the call runs, so it cannot
    fall behind the shipped one; an empty ``adopt`` gives the table without any entry."""
    adopted = [{"shape": shape, "m": m, "ab": "candidate"} for shape, m in adopt]
    return reapply_recorded({**shipped, "w4_mma_adopted": adopted}, root)


def table(records: list[dict]) -> str:
    lines = ["| preset | projection | rows | Triton tile µs (min–max) | best MMA config | µs (min–max) | × | TB/s |"]
    # (configurations as row_blocks, warps, in_flight, post -- cutlass_gemm.W4GemvConfig -- and the K split)
    lines.append("|---|---|---|---|---|---|---|---|")
    for base in (r for r in records if r["variant"] == "triton"):
        key = (base["n"], base["k"], base["m"])
        rivals = [r for r in records if r["variant"] == "mma" and (r["n"], r["k"], r["m"]) == key and r["us"]]
        best = min(rivals, key=lambda r: r["us"]) if rivals else None
        tb = weight_bytes("int4", base["n"], base["k"]) / best["us"] / 1e6 if best else float("nan")
        lines.append(
            f"| {base['preset']} | {base['shape']} | {base['m']} | {base['us']:.2f} ({base['us_min']:.2f}–"
            f"{base['us_max']:.2f}) | {best['config'] if best else '-'} | "
            + (f"{best['us']:.2f} ({best['us_min']:.2f}–{best['us_max']:.2f}) | {best['us'] / base['us']:.3f} | "
               f"{tb:.2f} |" if best else "- | - | - |")
        )  # fmt: skip
    wrong = [r for r in records if r.get("note")]
    if wrong:
        lines.append(f"\nWrong outputs (not timed): {[(r['preset'], r['shape'], r['m'], r['config']) for r in wrong]}")
    return "\n".join(lines)


def write_candidate(path: pathlib.Path, adopt: list[str]) -> int:
    """``--candidate-table PATH --adopt "7b o:16" ...``: ``candidate_table`` of the shipped table into ``path``."""
    from vlmq.engine.kernels.gemv import TILES_FILE

    try:
        pairs = [(shape, int(m)) for shape, m in (a.rsplit(":", 1) for a in adopt)]
    except ValueError:
        print(f"bench_w4_mma: --adopt takes PROJECTION:ROWS such as '7b o:16' (got {' '.join(adopt)!r})")
        return 2
    root = pathlib.Path(__file__).resolve().parents[1]
    path.write_text(json.dumps(candidate_table(json.loads(TILES_FILE.read_text()), pairs, root), indent=1) + "\n")
    return 0


def main(argv=None) -> int:
    from vlmq.engine.kernels.gemv import TILES_FILE

    candidate = argparse.ArgumentParser(add_help=False)
    candidate.add_argument("--candidate-table", type=pathlib.Path)
    candidate.add_argument("--adopt", nargs="*", default=[])
    known, _ = candidate.parse_known_args(argv)
    if known.candidate_table is not None:  # a table for an A/B, no timing
        return write_candidate(known.candidate_table, known.adopt)
    parser = decode_bench_parser(__doc__.split("\n")[0], reps=50)
    parser.add_argument("--write-tiles", action="store_true")
    parser.add_argument("--tiles-out", type=pathlib.Path, help="the candidate table --write-tiles writes")
    args = parser.parse_args(argv)
    if args.write_tiles and (args.tiles_out is None or args.tiles_out.resolve() == TILES_FILE.resolve()):
        print(
            "bench_w4_mma: --write-tiles needs --tiles-out FILE other than the shipped table; an entry ships once a "
            "whole-step A/B adopts it (w4_mma_adopted in the shipped table)"
        )
        return 2
    records = run(args)
    save_run(args.out, "bench_w4_mma", records, table(records))
    if args.write_tiles:
        data = json.loads(TILES_FILE.read_text())
        data["w4_mma"] = best_tiles(records)
        args.tiles_out.write_text(json.dumps(data, indent=1) + "\n")
        print(f"{len(data['w4_mma'])} w4_mma entries written to {args.tiles_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
