"""W8A8 prefill: down_proj's input (SiLU·mul of the gate/up GEMM's output, then per-token quantization) two ways,
on a CUDA GPU, checked bit for bit and timed:

- ``inductor``: ``quantize_activation(silu_mul_interleaved(y))`` compiled whole (the composed path before
  2026-11-30e: Inductor fuses the row amax with SiLU·mul into one reduction kernel, then quantizes);
- ``normalize_rows``: SiLU·mul compiled alone, then ``gemv.normalize_rows`` (one program a row; the path of
  ``projections.run_linear`` for W8A8 packs at prefill now).

    PYTHONPATH=src python benchmarks/bench_act_quant.py --out DIR [--rows 300] [--reps 50]

Prints µs per call (median of ``reps`` replays of a CUDA graph holding the call, min-max) per shape and mode;
DIR/act_quant.json. (Until the sixth session's call 1 it timed the compiled calls without a graph: the host's
launch overhead was in those figures.)
"""

from __future__ import annotations

import argparse
import json
import pathlib

import torch

from bench_attention import time_graph  # this folder's timer: replays of a CUDA graph (median, min and max)

SHAPES = {"2b": 8960, "7b": 18944}  # intermediate sizes: y is [rows, 2 I], gate and up columns interleaved


def main(argv=None) -> int:
    from vlmq.engine.kernels.fused import A_MODE_CODES, silu_mul_interleaved
    from vlmq.engine.kernels.gemv import normalize_rows
    from vlmq.engine.kernels.w8 import quantize_activation

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_act_quant needs a CUDA GPU: nothing measured")
        return 1
    whole = torch.compile(lambda y, mode: quantize_activation(silu_mul_interleaved(y), mode))
    silu = torch.compile(silu_mul_interleaved)
    rows = []
    print(f"{torch.cuda.get_device_name()}: µs a call, median of {args.reps} (min-max)")
    for preset, inter in SHAPES.items():
        y = torch.randn(args.rows, 2 * inter, device="cuda", dtype=torch.bfloat16)
        for mode in ("int8", "fp8"):
            ref_q, ref_s = whole(y, mode)
            q, s = normalize_rows(silu(y), None, 1e-6, None, A_MODE_CODES[mode])
            exact = torch.equal(q.view(torch.uint8), ref_q.view(torch.uint8)) and torch.equal(s, ref_s)
            row = {
                "preset": preset,
                "shape": [args.rows, 2 * inter],
                "mode": mode,
                "bit_exact": exact,
                "inductor": time_graph(lambda y=y, mode=mode: whole(y, mode), 1, args.reps),
                "normalize_rows": time_graph(
                    lambda y=y, mode=mode: normalize_rows(silu(y), None, 1e-6, None, A_MODE_CODES[mode]), 1, args.reps
                ),
            }
            rows.append(row)
            a, b = row["inductor"], row["normalize_rows"]
            print(
                f"{preset} {mode:4s} [{args.rows}x{2 * inter}] exact={exact} inductor {a['us']:.1f} "
                f"({a['us_min']:.1f}-{a['us_max']:.1f}) | normalize_rows {b['us']:.1f} "
                f"({b['us_min']:.1f}-{b['us_max']:.1f})"
            )
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "act_quant.json").write_text(json.dumps({"device": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
