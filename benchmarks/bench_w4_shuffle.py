"""The int4 prefill GEMM over CUTLASS's shuffled weight layout (``cutlass_gemm.w4a16_gemm(shuffled=True)``) against the
same tiles over the packed layout vlmq stores, on a Hopper GPU.

Per projection of each preset at ``--rows`` prompt rows (int4 with zero points, group 128, the group terms made once):
µs a call of each tile pair in a CUDA graph (triton's ``do_bench_cudagraph``: p50, p10, p90), whether the two outputs
are equal bit for bit (only the data movement differs), and the shuffle's own time (``w4_shuffle``, the Triton
kernel: what preparing a layer's weights one layer ahead costs; CUTLASS's reorder, ``w4_shuffle_cutlass``, beside it;
both must give the same words). Writes OUT/w4_shuffle.json and OUT/w4_shuffle.md.

    python benchmarks/bench_w4_shuffle.py --out runs/w4s --presets 7b,2b --rows 300
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_prefill_gemm import PROJECTIONS, timed, weights  # noqa: E402  (this folder's shapes, weights, timing)

GROUP = 128


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--presets", default="7b,2b")
    p.add_argument("--rows", type=int, default=300)
    p.add_argument("--projections", default="gate_up,down,qkv,o")
    return p.parse_args(argv)


def measure(preset: str, projection: str, rows: int) -> dict:
    import torch

    from vlmq.engine.kernels.cutlass_gemm import (
        W4_SHUFFLED_TWINS,
        w4_group_terms,
        w4_shuffle,
        w4_shuffle_cutlass,
        w4a16_gemm,
    )

    n, k = PROJECTIONS[preset][projection]
    q, scale, zero = weights("int4z", n, k, GROUP, "cuda")
    terms = w4_group_terms(scale, zero)
    x = torch.randn(rows, k, device="cuda").bfloat16()
    shuffled = w4_shuffle(q)
    record = {"preset": preset, "projection": projection, "rows": rows, "n": n, "k": k}
    record["shuffle_us"] = timed(lambda: w4_shuffle(q))[0]
    record["cutlass_shuffle_us"] = timed(lambda: w4_shuffle_cutlass(q))[0]
    record["shuffles_equal"] = bool(torch.equal(shuffled, w4_shuffle_cutlass(q)))
    record["tiles"] = []
    for tile, s_tile in W4_SHUFFLED_TWINS.items():
        plain = w4a16_gemm(x, q, scale, zero, GROUP, None, tile, terms)
        shuffled_out = w4a16_gemm(x, shuffled, scale, zero, GROUP, None, s_tile, terms, shuffled=True)
        record["tiles"].append(
            {
                "w4a16_tile": tile,
                "w4a16s_tile": s_tile,
                "equal": bool(torch.equal(plain, shuffled_out)),
                "w4a16_us": timed(lambda t=tile: w4a16_gemm(x, q, scale, zero, GROUP, None, t, terms)),
                "w4a16s_us": timed(
                    lambda t=s_tile: w4a16_gemm(x, shuffled, scale, zero, GROUP, None, t, terms, shuffled=True)
                ),
            }
        )
    return record


def markdown(records: list, device: str) -> str:
    lines = [
        f"int4 prefill GEMM, shuffled weights vs packed, µs a call in a CUDA graph (p50, p10-p90), {device}",
        "",
        "| preset | projection | rows | tile (w4a16 / w4a16s) | packed | shuffled | x packed | equal | shuffle µs "
        "(CUTLASS's; equal) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        for t in r["tiles"]:
            a, b = t["w4a16_us"], t["w4a16s_us"]
            lines.append(
                f"| {r['preset']} | {r['projection']} | {r['rows']} | {t['w4a16_tile']} / {t['w4a16s_tile']} | "
                f"{a[0]:.1f} ({a[1]:.1f}-{a[2]:.1f}) | {b[0]:.1f} ({b[1]:.1f}-{b[2]:.1f}) | {b[0] / a[0]:.3f} | "
                f"{t['equal']} | {r['shuffle_us']:.1f} ({r['cutlass_shuffle_us']:.1f}; {r['shuffles_equal']}) |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from vlmq.engine.kernels.cutlass_gemm import unavailable_reason

    reason = unavailable_reason() if torch.cuda.is_available() else "no CUDA device"
    if reason:
        print(f"bench_w4_shuffle: not run ({reason}): run it on a Hopper GPU with the CUTLASS library built")
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = [
        measure(preset, projection, args.rows)
        for preset in args.presets.split(",")
        for projection in args.projections.split(",")
    ]
    device = torch.cuda.get_device_name()
    (out / "w4_shuffle.json").write_text(json.dumps({"device": device, "records": records}, indent=1))
    (out / "w4_shuffle.md").write_text(markdown(records, device))
    print(markdown(records, device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
