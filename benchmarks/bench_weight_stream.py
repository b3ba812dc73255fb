"""How fast a GPU streams a packed weight matrix with (almost) no arithmetic, by the shape of each load: rows a
program, bytes a row a load, warps, pipeline stages. The question it answers (twenty-ninth session): the 7b gate/up's
int4 decode GEMVs stream at ~2.5 TB/s whatever their design while the int8 tile reaches ~3.7 (Nsight, docs/
benchmarks.md) -- does the access pattern alone (a warp's 16 rows x 64 bytes a chunk in the tensor-core kernel) cap
the rate, so that a repacked layout, not fewer instructions, is what the next kernel needs?

    python benchmarks/bench_weight_stream.py --out DIR      # the 7b gate/up's int4 and int8 words, every load shape

Each case XORs every int32 word of each row (one ALU operation a word, so the loads are the work) in a CUDA graph
over weight copies past L2 (``bench_kernels.graph_stats``: µs a call, median of ``--reps`` replays, min–max), and
checks the rows' XORs against torch's. DIR gets bench_weight_stream.json and table.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
import pathlib
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_kernels import graph_stats, save_run  # noqa: E402

# (name, N rows, int32 words a row): the 7b gate/up packed as int4 (K / 8 words) and as int8 (K / 4)
MATRICES = {"7b gate_up int4": (37888, 448), "7b gate_up int8": (37888, 896), "2b gate_up int4": (17920, 192)}
ROWS = (8, 16, 32)  # rows a program
WORDS = (4, 16, 64, 128)  # words a row a load: 16, 64, 256, 512 bytes contiguous
WARPS = (1, 4)
STAGES = (1, 3)  # Triton's software pipeline over the K loop (3: loads two iterations ahead, through cp.async)


@triton.jit
def stream_kernel(
    w_ptr, x_ptr, out_ptr, n, words, stride, BN: tl.constexpr, BW: tl.constexpr, OPS: tl.constexpr, ACT: tl.constexpr
):
    rows = tl.program_id(0) * BN + tl.arange(0, BN)
    acc = tl.zeros((BN, BW), dtype=tl.int32)
    for k0 in range(0, words, BW):
        cols = k0 + tl.arange(0, BW)
        mask = (rows[:, None] < n) & (cols[None, :] < words)
        v = tl.load(w_ptr + rows[:, None] * stride + cols[None, :], mask=mask, other=0)
        for _ in tl.static_range(OPS):  # a dependent multiply-add a round: work a word, as a GEMV's would be
            v = v * 1664525 + 1013904223
        if ACT:  # a GEMV's activations: 16 bytes a word (its 8 bf16), one [BW] vector a quarter, shared by the rows
            for j in tl.static_range(4):
                xj = tl.load(x_ptr + j * words + cols, mask=cols < words, other=0)
                acc ^= v + xj[None, :]
        else:
            acc ^= v
    tl.store(out_ptr + rows, tl.xor_sum(acc, axis=1), mask=rows < n)


def stream(
    w: torch.Tensor, rows: int, words: int, warps: int, stages: int, ops: int = 0, x: torch.Tensor | None = None
) -> torch.Tensor:
    """Each row's XOR of its int32 words, each first through ``ops`` rounds of ``lcg`` (and, with activations ``x``
    [4, K] int32, the word plus each of its column's four activation words instead): [N] int32."""
    n, k = w.shape
    out = torch.empty(n, dtype=torch.int32, device=w.device)
    grid = (triton.cdiv(n, rows),)
    act = x is not None
    stream_kernel[grid](
        w, x if act else w, out, n, k, w.stride(0), rows, words, ops, act, num_warps=warps, num_stages=stages
    )
    return out


def lcg(v: torch.Tensor, ops: int) -> torch.Tensor:
    """The kernel's rounds in int64, wrapped to int32 as the GPU's 32-bit multiply-add wraps."""
    v = v.long()
    for _ in range(ops):
        v = (v * 1664525 + 1013904223) & 0xFFFFFFFF
    return torch.where(v >= 2**31, v - 2**32, v).int()


def row_xor(w: torch.Tensor, ops: int = 0, x: torch.Tensor | None = None) -> torch.Tensor:
    """torch's answer: each row's XOR of its words after ``ops`` rounds (plus each activation word, with ``x``)."""
    w = lcg(w, ops)
    if x is not None:
        w = (w + x[0]) ^ (w + x[1]) ^ (w + x[2]) ^ (w + x[3])
    out = w[:, 0].clone()
    for j in range(1, w.shape[1]):
        out ^= w[:, j]
    return out


def run(args) -> list[dict]:
    records = []
    for name in args.matrices:
        n, k = MATRICES[name]
        nbytes = n * k * 4
        copies = max(1, min(64, math.ceil(args.rotate_mb * 2**20 / nbytes)))
        g = torch.Generator(device="cuda").manual_seed(0)
        mats = [torch.randint(-(2**31), 2**31 - 1, (n, k), dtype=torch.int32, device="cuda", generator=g)]
        mats += [m.clone() for m in mats * (copies - 1)]
        x = torch.randint(-(2**31), 2**31 - 1, (4, k), dtype=torch.int32, device="cuda", generator=g)
        wants = {(ops, act): row_xor(mats[0], ops, x if act else None) for ops in args.ops for act in args.act}
        for rows, words, warps, stages, ops, act in itertools.product(
            args.rows, args.words, args.warps, args.stages, args.ops, args.act
        ):
            case = dict(matrix=name, n=n, words=k, rows=rows, load_words=words, warps=warps, stages=stages, ops=ops)
            case["act"] = act
            shape = (rows, words, warps, stages, ops, x if act else None)
            calls = [lambda m=m, shape=shape: stream(m, *shape) for m in mats]
            if not torch.equal(calls[0](), wants[(ops, act)]):
                records.append(dict(case, us=None, note="wrong output"))
                continue
            rec = dict(case, **graph_stats(calls, args.reps))
            rec["tb_s"] = nbytes / rec["us"] / 1e6
            records.append(rec)
            print(line(rec), flush=True)
        del mats
        torch.cuda.empty_cache()
    return records


def line(r: dict) -> str:
    case = (
        f"| {r['matrix']} | {r['rows']} | {4 * r['load_words']} | {r['warps']} | {r['stages']} | {r['ops']} | "
        f"{16 * r.get('act', 0)} |"
    )
    if r["us"] is None:
        return f"{case} - | {r['note']} |"
    return f"{case} {r['us']:.2f} ({r['us_min']:.2f}–{r['us_max']:.2f}) | {r['tb_s']:.2f} |"


def table(records: list[dict]) -> str:
    head = [
        "| matrix | rows a program | bytes a row a load | warps | stages | ops a word | activation bytes a word "
        "| µs (min–max) | TB/s |"
    ]
    head.append("|---" * 9 + "|")
    return "\n".join(head + [line(r) for r in records])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--matrices", type=lambda s: s.split(","), default=list(MATRICES))
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--rotate-mb", type=float, default=256, help="weight copies enough to pass L2")
    ints = lambda text: [int(v) for v in text.split(",")]  # noqa: E731
    parser.add_argument("--rows", type=ints, default=list(ROWS), help="rows a program")
    parser.add_argument("--words", type=ints, default=list(WORDS), help="int32 words a row a load")
    parser.add_argument("--warps", type=ints, default=list(WARPS))
    parser.add_argument("--stages", type=ints, default=list(STAGES))
    parser.add_argument("--ops", type=ints, default=[0], help="dependent multiply-adds a word (8 int4 weights)")
    parser.add_argument(
        "--act", type=ints, default=[0], help="1: each word also meets a GEMV's 16 activation bytes (0: none)"
    )
    args = parser.parse_args(argv)
    bad = [m for m in args.matrices if m not in MATRICES]
    if bad:
        parser.error(f"--matrices {','.join(bad)}: unknown; use some of {','.join(MATRICES)}")
    if not torch.cuda.is_available():
        print("bench_weight_stream: no CUDA device here; it times a GPU's memory system")
        return 2
    records = run(args)
    save_run(args.out, "bench_weight_stream", records, table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
