"""How fast a GPU streams a packed weight matrix with (almost) no arithmetic, by the shape of each load: rows a
program, bytes a row a load, warps, pipeline stages. The question it answers (twenty-ninth session): the 7b gate/up's
int4 decode GEMVs stream at ~2.5 TB/s whatever their design while the int8 tile reaches ~3.7 (Nsight, docs/
benchmarks.md) -- does the access pattern alone (a warp's 16 rows x 64 bytes a chunk in the tensor-core kernel) cap
the rate, so that a repacked layout, not fewer instructions, is what the next kernel needs?

    python benchmarks/bench_weight_stream.py --out DIR      # the 7b gate/up's int4 and int8 words, every load shape

Each case XORs every int32 word of each row (one ALU operation a word, so the loads are the work; ``--ops`` adds
dependent operations a word, ``--act`` a GEMV's activation loads) or, with ``--work dot`` / ``dot-scaled``, does a
GEMV's own work on the words (int4 unpacking, products with activations, group scales and zero points: which of a
GEMV's ingredients costs the stream its speed, thirtieth session) in a CUDA graph over weight copies past L2
(``bench_kernels.graph_stats``: µs a call, median of ``--reps`` replays, min–max; TB/s of the words alone), and
checks the rows' results against torch's. DIR gets bench_weight_stream.json and table.md.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import pathlib
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_kernels import graph_stats, save_run  # noqa: E402

# (name, N rows, int32 words a row): the 7b gate/up packed as int4 (K / 8 words) and as int8 (K / 4); the 2b gate/up
# and down as int4, int8 and bf16 (K / 2), where a one-row GEMV's fixed costs weigh most against its bytes (forty-second
# session: how far the 2b's batch-1 GEMVs sit above a stream of their own bytes)
MATRICES = {
    "7b gate_up int4": (37888, 448),
    "7b gate_up int8": (37888, 896),
    "2b gate_up int4": (17920, 192),
    "2b gate_up int8": (17920, 384),
    "2b gate_up bf16": (17920, 768),
    "2b down int4": (1536, 1120),
    "2b down int8": (1536, 2240),
    "2b down bf16": (1536, 4480),
}
DEFAULT_MATRICES = ("7b gate_up int4", "7b gate_up int8", "2b gate_up int4")
ROWS = (8, 16, 32)  # rows a program
WORDS = (4, 16, 64, 128)  # words a row a load: 16, 64, 256, 512 bytes contiguous
WARPS = (1, 4)
STAGES = (1, 3)  # Triton's software pipeline over the K loop (3: loads two iterations ahead, through cp.async)
# what each word meets: an XOR (after --ops rounds, with --act activations), or a GEMV's unpacking and products
# (``dot``), with group scales and zero points (``dot-scaled``), unpacked by bits as the engine's tiles do (``bits``)
WORKS = ("xor", "dot", "dot-scaled", "bits")
LCG_MUL, LCG_ADD = 1664525, 1013904223  # an --ops round, passed at run time: each round stays an instruction
GROUP_WORDS = 16  # an int4 group of 128 columns: 16 words


@triton.jit
def stream_kernel(
    w_ptr, x_ptr, out_ptr, n, words, stride, mul, add,
    BN: tl.constexpr, BW: tl.constexpr, OPS: tl.constexpr, ACT: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BN + tl.arange(0, BN)
    acc = tl.zeros((BN, BW), dtype=tl.int32)
    for k0 in range(0, words, BW):
        cols = k0 + tl.arange(0, BW)
        mask = (rows[:, None] < n) & (cols[None, :] < words)
        v = tl.load(w_ptr + rows[:, None] * stride + cols[None, :], mask=mask, other=0)
        for _ in tl.static_range(OPS):  # a dependent multiply-add a round: work a word, as a GEMV's would be
            v = v * mul + add  # run-time constants: with literal ones the compiler folds the rounds into one
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
        w,
        x if act else w,
        out,
        n,
        k,
        w.stride(0),
        LCG_MUL,
        LCG_ADD,
        rows,
        words,
        ops,
        act,
        num_warps=warps,
        num_stages=stages,
    )
    return out


@triton.jit
def dot_kernel(
    w_ptr, x_ptr, s_ptr, z_ptr, out_ptr, n, words, stride, groups,
    BN: tl.constexpr, BW: tl.constexpr, MODE: tl.constexpr,
):  # fmt: skip
    """A GEMV's work on the same stream: each word's 8 nibbles unpacked and multiplied by their activations (``x``:
    [8, words] bf16, x[j, c] the activation of column 8c + j, so no shuffle), fp32 sums. ``MODE`` 0 (``dot``): each
    nibble shifted, masked and converted to fp32; 1 (``dot-scaled``): the same, the sums a 128-column group taken by
    its row's bf16 scale after (8 + z) times the group's activation sum comes off (int8 zero points), as the engine's
    ``post`` tiles do; 2 (``bits``): as 1, but nibbles i and i + 4 become the fp32 128 + q of their bits under
    128.0's (a shift and a LOP3 a pair, two more to split it: no int-to-float conversion), so 136 + z comes off."""
    rows = tl.program_id(0) * BN + tl.arange(0, BN)
    in_n = rows < n
    acc = tl.zeros((BN, BW), dtype=tl.float32)
    for k0 in range(0, words, BW):
        cols = k0 + tl.arange(0, BW)
        in_k = cols < words
        v = tl.load(w_ptr + rows[:, None] * stride + cols[None, :], mask=in_n[:, None] & in_k[None, :], other=0)
        part = tl.zeros((BN, BW), dtype=tl.float32)
        xsum = tl.zeros((BW,), dtype=tl.float32)
        if MODE == 2:
            for i in tl.static_range(4):
                lo_x = tl.load(x_ptr + i * words + cols, mask=in_k, other=0.0).to(tl.float32)
                hi_x = tl.load(x_ptr + (i + 4) * words + cols, mask=in_k, other=0.0).to(tl.float32)
                pair = ((v >> (4 * i)) & 0x000F000F) | 0x43004300  # two bf16 128 + q: nibbles i, i + 4
                lo = (pair << 16).to(tl.float32, bitcast=True)
                hi = (pair & -65536).to(tl.float32, bitcast=True)
                part += lo * lo_x[None, :]  # two statements: two FFMAs (one sum of products is FMUL, FFMA, FADD)
                part += hi * hi_x[None, :]
                xsum += lo_x + hi_x
        else:
            for j in tl.static_range(8):
                xj = tl.load(x_ptr + j * words + cols, mask=in_k, other=0.0).to(tl.float32)
                if MODE == 1:
                    part += ((v >> (4 * j)) & 0xF).to(tl.float32) * xj[None, :]
                    xsum += xj
                else:
                    part += (((v >> (4 * j)) & 0xF).to(tl.float32) - 8.0) * xj[None, :]
        if MODE == 0:
            acc += part
        else:  # each word's sum less its share of the correction, times its group's scale: no exchange across lanes
            meta = rows[:, None] * groups + (cols // 16)[None, :]
            live = in_n[:, None] & in_k[None, :]
            sc = tl.load(s_ptr + meta, mask=live, other=0.0).to(tl.float32)
            zc = tl.load(z_ptr + meta, mask=live, other=0).to(tl.float32)
            acc += sc * (part - ((136.0 if MODE == 2 else 8.0) + zc) * xsum[None, :])
    tl.store(out_ptr + rows, tl.sum(acc, axis=1), mask=in_n)


def dot(w, x, rows: int, words: int, warps: int, stages: int, scale=None, zero=None, bits=False) -> torch.Tensor:
    """``dot_kernel``'s [N] fp32 sums of the int4 words ``w`` [N, K] against ``x`` [8, K] (scaled where ``scale``
    [N, K / 16] bf16 and ``zero`` [N, K / 16] int8 are given; ``bits``: nibbles by their bits, MODE 2)."""
    n, k = w.shape
    out = torch.empty(n, dtype=torch.float32, device=w.device)
    scaled = scale is not None
    mode = 2 if bits else int(scaled)
    grid = (triton.cdiv(n, rows),)
    dot_kernel[grid](
        w, x, scale if scaled else x, zero if scaled else x, out, n, k, w.stride(0), triton.cdiv(k, GROUP_WORDS),
        rows, words, mode, num_warps=warps, num_stages=stages,
    )  # fmt: skip
    return out


def work_dot(work: str, w, x, rows: int, words: int, warps: int, stages: int, scale, zero) -> torch.Tensor:
    """``dot`` as ``--work`` ``work`` runs it on the words ``w``: ``dot`` unscaled (``scale`` / ``zero`` unused),
    ``dot-scaled`` with the group scales and zero points, ``bits`` with them, the nibbles unpacked by their bits."""
    if work == "dot":
        return dot(w, x, rows, words, warps, stages)
    return dot(w, x, rows, words, warps, stages, scale, zero, bits=work == "bits")


def row_dot(w: torch.Tensor, x: torch.Tensor, scale=None, zero=None) -> torch.Tensor:
    """torch's answer to ``dot``: the nibbles (column 8c + j = nibble j of word c) dequantized and multiplied."""
    n, k = w.shape
    q = torch.stack([(w >> (4 * j)) & 0xF for j in range(8)], dim=-1).reshape(n, 8 * k).float() - 8
    if scale is not None:
        q = (q - zero.float().repeat_interleave(8 * GROUP_WORDS, dim=1)[:, : 8 * k]) * scale.float().repeat_interleave(
            8 * GROUP_WORDS, dim=1
        )[:, : 8 * k]
    return q @ x.float().t().reshape(8 * k)


def lcg(v: torch.Tensor, ops: int) -> torch.Tensor:
    """The kernel's rounds in int64, wrapped to int32 as the GPU's 32-bit multiply-add wraps."""
    v = v.long()
    for _ in range(ops):
        v = (v * LCG_MUL + LCG_ADD) & 0xFFFFFFFF
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
        shapes = list(itertools.product(args.rows, args.words, args.warps, args.stages))
        if "xor" in args.work:
            wants = {(ops, act): row_xor(mats[0], ops, x if act else None) for ops in args.ops for act in args.act}
            for (rows, words, warps, stages), ops, act in itertools.product(shapes, args.ops, args.act):
                case = dict(matrix=name, n=n, words=k, rows=rows, load_words=words, warps=warps, stages=stages)
                case |= dict(work="xor", ops=ops, act=act)
                shape = (rows, words, warps, stages, ops, x if act else None)
                calls = [lambda m=m, shape=shape: stream(m, *shape) for m in mats]
                records.append(timed(case, calls, lambda got, want=wants[(ops, act)]: torch.equal(got, want), args))
        xs = torch.randn(8, k, device="cuda", generator=g).bfloat16()
        groups = math.ceil(k / GROUP_WORDS)
        scale = (torch.rand(n, groups, device="cuda", generator=g) * 0.02 + 0.001).bfloat16()
        zero = torch.randint(-8, 8, (n, groups), device="cuda", generator=g).to(torch.int8)
        for work in [w for w in args.work if w != "xor"]:
            meta = (scale, zero) if work != "dot" else ()
            want = row_dot(mats[0], xs, *meta)
            for rows, words, warps, stages in shapes:
                if work != "dot" and words % GROUP_WORDS:
                    continue  # a load's words must hold whole groups
                case = dict(matrix=name, n=n, words=k, rows=rows, load_words=words, warps=warps, stages=stages)
                case |= dict(work=work, ops=0, act=0)
                shape = (rows, words, warps, stages)
                calls = [functools.partial(work_dot, work, m, xs, *shape, scale, zero) for m in mats]
                records.append(timed(case, calls, lambda got, want=want: close(got, want), args))
        del mats
        torch.cuda.empty_cache()
    return records


def close(got: torch.Tensor, want: torch.Tensor) -> bool:
    """fp32 sums in another order: within 1e-4 of the largest."""
    return bool((got - want).abs().max() <= 1e-4 * want.abs().max())


def timed(case: dict, calls: list, right, args) -> dict:
    """``case`` timed over ``calls`` (one a weight copy) where its first call's output is ``right``."""
    if not right(calls[0]()):
        return dict(case, us=None, note="wrong output")
    rec = dict(case, **graph_stats(calls, args.reps))
    rec["tb_s"] = case["n"] * case["words"] * 4 / rec["us"] / 1e6
    print(line(rec), flush=True)
    return rec


def line(r: dict) -> str:
    case = (
        f"| {r['matrix']} | {r.get('work', 'xor')} | {r['rows']} | {4 * r['load_words']} | {r['warps']} | "
        f"{r['stages']} | {r['ops']} | {16 * r.get('act', 0)} |"
    )
    if r["us"] is None:
        return f"{case} - | {r['note']} |"
    return f"{case} {r['us']:.2f} ({r['us_min']:.2f}–{r['us_max']:.2f}) | {r['tb_s']:.2f} |"


def table(records: list[dict]) -> str:
    head = [
        "| matrix | work | rows a program | bytes a row a load | warps | stages | ops a word | activation bytes a word "
        "| µs (min–max) | TB/s |"
    ]
    head.append("|---" * 10 + "|")
    return "\n".join(head + [line(r) for r in records])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--matrices", type=lambda s: s.split(","), default=list(DEFAULT_MATRICES))
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--rotate-mb", type=float, default=256, help="weight copies enough to pass L2")
    ints = lambda text: [int(v) for v in text.split(",")]  # noqa: E731
    parser.add_argument("--rows", type=ints, default=list(ROWS), help="rows a program")
    parser.add_argument("--words", type=ints, default=list(WORDS), help="int32 words a row a load")
    parser.add_argument("--warps", type=ints, default=list(WARPS))
    parser.add_argument("--stages", type=ints, default=list(STAGES))
    parser.add_argument("--ops", type=ints, default=[0], help="dependent multiply-adds a word (8 int4 weights)")
    parser.add_argument(
        "--work", type=lambda t: t.split(","), default=["xor"], help=f"some of {','.join(WORKS)} (what a word meets)"
    )
    parser.add_argument(
        "--act", type=ints, default=[0], help="1: each word also meets a GEMV's 16 activation bytes (0: none)"
    )
    args = parser.parse_args(argv)
    bad = [m for m in args.matrices if m not in MATRICES]
    if bad:
        parser.error(f"--matrices {','.join(bad)}: unknown; use some of {','.join(MATRICES)}")
    bad = [w for w in args.work if w not in WORKS]
    if bad:
        parser.error(f"--work {','.join(bad)}: unknown; use some of {','.join(WORKS)}")
    for name in ("rows", "words", "warps"):  # Triton's tile sizes and warp counts are powers of two
        bad = [v for v in getattr(args, name) if v < 1 or v & (v - 1)]
        if bad:
            parser.error(f"--{name} {','.join(map(str, bad))}: use powers of two (e.g. {','.join(map(str, ROWS))})")
    if any(v < 0 for v in args.ops) or any(v not in (0, 1) for v in args.act):
        parser.error(f"--ops {args.ops} / --act {args.act}: rounds are 0 or more, --act is 0 (none) or 1")
    if not torch.cuda.is_available():
        print("bench_weight_stream: no CUDA device here; it times a GPU's memory system")
        return 2
    records = run(args)
    save_run(args.out, "bench_weight_stream", records, table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
