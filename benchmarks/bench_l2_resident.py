"""How much faster a decode GEMV runs when its weights are already in L2 than when they stream from HBM (GPU).

    PYTHONPATH=src python benchmarks/bench_l2_resident.py --out OUT [--presets 2b,7b] [--reps 50]

For each projection and weight format at one row, the fused GEMV the engine runs (``bench_kernels.sweep_calls``, the
tile table's tile) timed in a CUDA graph over weight copies that fill 256 MB (each call's weights come from HBM: the
``bench_kernels`` figure) and over one copy called as many times (its weights stay in L2 where they fit, ~50 MB on an
H200). The gap is what any scheme that keeps weights in L2 (``$VLMQ_L2_PREFETCH``) can win at most, a call.
Writes OUT/l2_resident.json and OUT/l2_resident.md. Needs CUDA.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_kernels import SHAPES, sweep_calls, time_graph, weight_bytes  # noqa: E402

MODES = {"bf16": "bf16", "int8": "int8-a16", "int4": "int4-g128"}
ROTATION_BYTES = 256 << 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--presets", default="2b,7b")
    p.add_argument("--shapes", default="qkv,o,gate_up,down")
    p.add_argument("--reps", type=int, default=50)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_l2_resident: needs CUDA (nothing measured on this machine)")
        return 1
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for preset in args.presets.split(","):
        for shape in args.shapes.split(","):
            n, k = SHAPES[preset][shape]
            for fmt, mode in MODES.items():
                size = weight_bytes(fmt, n, k)
                copies = max(2, -(-ROTATION_BYTES // size))
                group = (preset, shape, n, k, 1, mode)
                cold = sweep_calls(group, None, copies, fused=True)
                warm = [cold[0]] * copies
                t_cold = statistics.median(time_graph(cold, args.reps))
                t_warm = statistics.median(time_graph(warm, args.reps))
                rows.append(dict(preset=preset, shape=shape, format=fmt, mb=size / 2**20, hbm_us=t_cold, l2_us=t_warm))
                print(f"{preset} {shape} {fmt} {size / 2**20:.1f} MB: HBM {t_cold:.2f} us, L2 {t_warm:.2f} us")
                del cold, warm
                torch.cuda.empty_cache()
    device = torch.cuda.get_device_name()
    (out / "l2_resident.json").write_text(json.dumps(dict(device=device, rows=rows), indent=1))
    lines = [
        f"Fused decode GEMV at one row, weights from HBM vs resident in L2, µs a call (median of {args.reps}), "
        + device,
        "",
        "| preset | shape | format | MB | HBM µs | TB/s | L2 µs | TB/s | L2 / HBM |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        hbm_tb, l2_tb = (r["mb"] * 2**20 / r[key] / 1e6 for key in ("hbm_us", "l2_us"))
        lines.append(
            f"| {r['preset']} | {r['shape']} | {r['format']} | {r['mb']:.1f} | {r['hbm_us']:.2f} | {hbm_tb:.2f} "
            f"| {r['l2_us']:.2f} | {l2_tb:.2f} | {r['l2_us'] / r['hbm_us']:.2f} |"
        )
    (out / "l2_resident.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
