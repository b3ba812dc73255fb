"""Run the decode GEMV of a few (preset, shape, mode) cases with their shipped tiles, for Nsight Compute to read the
hardware counters of (what bounds a kernel that times far below the copy rate: its pipes, stalls, DRAM throughput):

    ncu --clock-control none -k regex:gemv_kernel --section SpeedOfLight --section ComputeWorkloadAnalysis \\
        --section WarpStateStats --section Occupancy python3 benchmarks/ncu_gemv.py 7b:gate_up:int4-g128 ...

Each case: ``--calls`` + 1 calls (the first compiles), each on its own weight copy; Nsight Compute flushes the
caches before each profiled launch (its default ``--cache-control all``), so the weights come from HBM as in a decode
step. Prints the tile each case ran. No timing here: bench_kernels.py times, this only feeds the profiler.
"""

from __future__ import annotations

import argparse
import sys

import torch

import bench_kernels
from vlmq.engine.kernels.gemv import GEMV_MAX_M, default_config, mma_config, parse_mma_config
from vlmq.errors import VlmqError


def parse_case(text: str) -> tuple:
    """'7b:gate_up:int4-g128' (or with the decode rows, '7b:down:int4-g128:16') → the sweep group (preset, shape, n,
    k, rows, mode) of bench_kernels; one row unless given."""
    try:
        preset, shape, mode, *rows = text.split(":")
        n, k = bench_kernels.SHAPES[preset][shape]
        bench_kernels.MODES[mode]  # noqa: B018 - a KeyError names a mode that does not exist
        (m,) = [int(r) for r in rows] or [1]
        if not 1 <= m <= GEMV_MAX_M:  # beyond, the prefill paths: not this script's kernels
            raise ValueError
    except (ValueError, KeyError):
        presets = ",".join(bench_kernels.SHAPES)
        raise SystemExit(
            f"ncu_gemv: bad case {text!r}: give preset:shape:mode[:rows], presets {presets}, shapes of "
            f"bench_kernels.SHAPES, modes {','.join(bench_kernels.MODES)}, decode rows 1-{GEMV_MAX_M}"
        ) from None
    return preset, shape, n, k, m, mode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "cases", nargs="+", help="preset:shape:mode[:rows], e.g. 7b:gate_up:int4-g128, 7b:down:int4-g128:16"
    )
    ap.add_argument("--calls", type=int, default=2)
    ap.add_argument(
        "--mma", default="", help="int4 cases through the tensor-core GEMV: row_blocks,warps,in_flight,post[,split]"
    )
    args = ap.parse_args(argv)
    groups = [parse_case(c) for c in args.cases]
    mma = None
    if args.mma:  # the configuration as $VLMQ_W4_MMA reads it, then an optional K split
        parts = args.mma.split(",")
        form = "row_blocks,warps,in_flight,post, then an optional K split: --mma 1,4,2,1,2"
        try:
            mma = (parse_mma_config(",".join(parts[:4]), "--mma"), int(parts[4]) if len(parts) > 4 else 1)
        except VlmqError as err:
            ap.error(f"{err} (then an optional K split: --mma 1,4,2,1,2)")
        except ValueError:
            ap.error(f"--mma={args.mma!r}: the K split is not a whole number; give {form}")
    if not torch.cuda.is_available():
        print("ncu_gemv: no CUDA device here; Nsight Compute reads a GPU's counters")
        return 2
    for group in groups:
        preset, shape, n, k, m, mode = group
        cfg = default_config(bench_kernels.cfg_format(mode), m, n, k, bench_kernels.GROUP)
        if mma and mode.startswith("int4"):  # (Nsight's kernel name: regex:w4_gemv_kernel)
            cfg = mma_config(mma[0], m, mma[1])
        nbytes = bench_kernels.weight_bytes(bench_kernels.MODES[mode][0], n, k)
        for call in bench_kernels.sweep_calls(group, cfg, args.calls + 1):
            call()
        torch.cuda.synchronize()
        print(f"{preset} {shape} {mode} x {m} rows: {tuple(cfg)}, {nbytes / 1e6:.1f} MB of weights", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
