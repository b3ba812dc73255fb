"""What a dependency between two decode GEMVs costs: a kernel boundary (a launch a GEMV, programmatic dependent launch,
as the engine runs them) against a wait on a counter inside one persistent launch (the persistent layer kernel that
`benchmarks/planned/README.md` sketches for issue 17's batch-1 bars, not built). The question it answers before that
kernel is built (thirty-eighth session): does a counter wait cost less than the ~1.5-2.5 us a GEMV boundary adds to
the 2b step beyond its bytes, or does a persistent kernel only move the price?

    python benchmarks/bench_phase_boundary.py --out DIR       # the 2b decoder's GEMVs, BF16, 28 layers, batch 1

A chain of the decoder's four GEMVs a layer (q/k/v, o, gate/up with SiLU·mul, down), each reading the previous one's
output row (o reads q/k/v's first ``hidden`` values, where the engine's attention would sit), over distinct BF16
weights a layer (the whole chain past L2). Every variant runs the same tiles through the same device function:

- ``launches``: a launch a GEMV, PDL (the first weight tile loaded before ``griddepcontrol.wait``, the trigger after
  the sums: the engine's late trigger);
- ``launches-early``: the same with the trigger as each program starts (the engine's early trigger);
- ``launches-plain``: a launch a GEMV without PDL;
- ``persistent``: one launch of ``--programs-per-sm`` programs a SM (all resident, checked), walking the phases; a
  program loads its first weight tile of a phase, then spins on the previous phase's counter (acquire) until every
  tile of it has been stored (a CTA barrier, then a release add a tile);
- ``persistent-ld``: the same, the counter polled by volatile loads and acquired once reached (no read-modify-write
  on the counter its producers add to);
- ``persistent-once``: ``persistent`` with one release a phase a program (its tiles' count, after its last tile)
  instead of one a tile (a release is a CTA barrier and a GPU-scope fence);
- ``free``: ``persistent`` without the waits (the phases read whatever row is there): the same tiles' stream alone.

Each is timed over CUDA-graph replays (``bench_kernels.time_graph``: µs a step, median of ``--reps``, min–max); the
table gives each variant's price a boundary against ``free``: (µs − free's) / the chain's boundaries. The step's
outputs are checked against torch's (fp32 sums, BF16 rows) before any timing. DIR gets bench_phase_boundary.json and
table.md.
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import sys
from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_kernels import graph_stats, save_run  # noqa: E402

VARIANTS = ("launches", "launches-early", "launches-plain", "persistent", "persistent-ld", "persistent-once", "free")
# the kernel's SYNC constexpr: how a phase waits for the one before it
SYNC_NONE, SYNC_COUNTER, SYNC_PDL_LATE, SYNC_PDL_EARLY, SYNC_PLAIN, SYNC_COUNTER_LD, SYNC_COUNTER_ONCE = range(7)
SYNC_OF = {
    "launches": SYNC_PDL_LATE,
    "launches-early": SYNC_PDL_EARLY,
    "launches-plain": SYNC_PLAIN,
    "persistent": SYNC_COUNTER,
    "persistent-ld": SYNC_COUNTER_LD,
    "persistent-once": SYNC_COUNTER_ONCE,
    "free": SYNC_NONE,
}
PERSISTENT = ("persistent", "persistent-ld", "persistent-once", "free")
PHASES_A_LAYER = 4  # q/k/v, o, gate/up (SiLU·mul), down
RMS_EPS_VALUE = 1e-6  # q/k/v's and gate/up's input rows are RMS-normalized (``phase_tiles``' NORM)
RMS_EPS = tl.constexpr(RMS_EPS_VALUE)


@dataclass(frozen=True)
class Chain:
    """A decoder's GEMV shapes and the tiles a phase's programs take (rows ``bn_*`` of a tile, ``bk_*`` columns an
    iteration over K = hidden (``bk_h``) or the intermediate size (``bk_i``))."""

    hidden: int
    qkv: int
    inter: int
    layers: int
    bn_qkv: int = 16
    bn_o: int = 8
    bn_gate_up: int = 16
    bn_down: int = 8
    bk_h: int = 256
    bk_i: int = 512

    def tiles(self) -> tuple[int, int, int, int]:
        return (self.qkv // self.bn_qkv, self.hidden // self.bn_o, self.inter // self.bn_gate_up,
                self.hidden // self.bn_down)  # fmt: skip

    def phases(self) -> int:
        return PHASES_A_LAYER * self.layers

    def weight_bytes(self) -> int:
        h, i = self.hidden, self.inter
        return 2 * self.layers * (self.qkv * h + h * h + 2 * i * h + h * i)

    def problems(self) -> list[str]:
        """What this chain's tiles do not divide (the kernel masks nothing)."""
        checks = [
            ("qkv", self.qkv, self.bn_qkv), ("hidden", self.hidden, self.bn_o), ("inter", self.inter, self.bn_gate_up),
            ("hidden", self.hidden, self.bn_down), ("hidden", self.hidden, self.bk_h), ("inter", self.inter, self.bk_i),
        ]  # fmt: skip
        bad = [f"{name} {size} % {tile}" for name, size, tile in checks if size % tile]
        if self.qkv < self.hidden:
            bad.append(f"qkv {self.qkv} < hidden {self.hidden}")
        return bad


CHAINS = {
    "2b": Chain(hidden=1536, qkv=2048, inter=8960, layers=28, bk_i=256),  # 8960 = 35 x 256
    "7b": Chain(hidden=3584, qkv=4608, inter=18944, layers=28),
}


@triton.jit
def wait_for(cnt_ptr, phase, prev_tiles, SYNC: tl.constexpr):
    """Before a program reads a phase's input row: the previous phase's counter reaches its tile count (acquire),
    or the previous grid ends (PDL)."""
    if SYNC == 1 or SYNC == 6:
        if phase > 0:
            seen = tl.atomic_add(cnt_ptr + phase - 1, 0, sem="acquire", scope="gpu")
            while seen < prev_tiles:
                seen = tl.atomic_add(cnt_ptr + phase - 1, 0, sem="acquire", scope="gpu")
    if SYNC == 5:  # polled by volatile loads (no read-modify-write on the counter the producers add to), then one
        if phase > 0:  # acquire once it is reached
            seen = tl.load(cnt_ptr + phase - 1, volatile=True)
            while seen < prev_tiles:
                seen = tl.load(cnt_ptr + phase - 1, volatile=True)
            tl.atomic_add(cnt_ptr + phase - 1, 0, sem="acquire", scope="gpu")
            tl.debug_barrier()  # the acquire (one lane's) precedes every lane's loads of the row
    if SYNC == 2 or SYNC == 3:
        gdc_wait()


@triton.jit
def phase_tiles(
    w_ptr, x_ptr, y_ptr, cnt_ptr, phase, pid, n_programs, prev_tiles,
    N: tl.constexpr, K: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, SILU: tl.constexpr, NORM: tl.constexpr,
    SYNC: tl.constexpr,
):  # fmt: skip
    """This program's tiles of one GEMV phase: y[rows] = W[rows] x (SILU: silu(W[rows] x) * W[N + rows] x, gate and
    up rows of a tile from the two halves of W), fp32 sums, BF16 rows; NORM: x RMS-normalized first (no gain), as
    the engine's GEMVs after an RMSNorm do in their prologue (and so that the rows keep their size down the chain)."""
    cols = tl.arange(0, BK)
    for t in range(pid, N // BN, n_programs):
        rows = t * BN + tl.arange(0, BN)
        wg = tl.load(w_ptr + rows[:, None] * K + cols[None, :])  # the first K tile before the wait
        if SILU:
            wu = tl.load(w_ptr + (rows + N)[:, None] * K + cols[None, :])
        if t == pid:  # this program's first tile of the phase
            wait_for(cnt_ptr, phase, prev_tiles, SYNC)
        r = 1.0
        if NORM:
            squares = tl.zeros((BK,), dtype=tl.float32)
            for k0 in range(0, K, BK):
                v = tl.load(x_ptr + k0 + cols, cache_modifier=".cg").to(tl.float32)
                squares += v * v
            r = tl.rsqrt(tl.sum(squares, axis=0) / K + RMS_EPS)
        x = tl.load(x_ptr + cols, cache_modifier=".cg").to(tl.float32) * r
        acc = wg.to(tl.float32) * x[None, :]
        if SILU:
            acc_u = wu.to(tl.float32) * x[None, :]
        for k0 in range(BK, K, BK):
            x = tl.load(x_ptr + k0 + cols, cache_modifier=".cg").to(tl.float32) * r
            wg = tl.load(w_ptr + rows[:, None] * K + (k0 + cols)[None, :])
            acc += wg.to(tl.float32) * x[None, :]
            if SILU:
                wu = tl.load(w_ptr + (rows + N)[:, None] * K + (k0 + cols)[None, :])
                acc_u += wu.to(tl.float32) * x[None, :]
        y = tl.sum(acc, axis=1)
        if SILU:
            y = y * tl.sigmoid(y) * tl.sum(acc_u, axis=1)
        if SYNC == 2:
            gdc_launch_dependents()  # late: after the sums
        tl.store(y_ptr + rows, y.to(tl.bfloat16))
        if SYNC == 1 or SYNC == 5:
            tl.debug_barrier()  # every lane's stores precede the release
            tl.atomic_add(cnt_ptr + phase, 1, sem="release", scope="gpu")
    if SYNC == 6 and pid < N // BN:  # one release a phase: this program's tiles at once, after its last
        tl.debug_barrier()
        tl.atomic_add(cnt_ptr + phase, (N // BN - 1 - pid) // n_programs + 1, sem="release", scope="gpu")


@triton.jit
def chain_kernel(
    wq_ptr, wo_ptr, wgu_ptr, wd_ptr, act_ptr, cnt_ptr, first_phase, last_phase, n_programs, act_stride,
    H: tl.constexpr, NQ: tl.constexpr, NI: tl.constexpr, BNQ: tl.constexpr, BNO: tl.constexpr, BNG: tl.constexpr,
    BND: tl.constexpr, BKH: tl.constexpr, BKI: tl.constexpr, SYNC: tl.constexpr,
):  # fmt: skip
    """Phases first_phase .. last_phase - 1 of the chain (phase p of layer p // 4 reads act row p, writes row p + 1):
    all of them in one persistent launch, or one a launch."""
    pid = tl.program_id(0)
    if SYNC == 3:
        gdc_launch_dependents()  # early: as the program starts
    for phase in range(first_phase, last_phase):
        layer = phase // 4
        kind = phase % 4
        x_ptr = act_ptr + phase * act_stride
        y_ptr = x_ptr + act_stride
        if kind == 0:
            w = wq_ptr + layer.to(tl.int64) * NQ * H
            phase_tiles(w, x_ptr, y_ptr, cnt_ptr, phase, pid, n_programs, H // BND, NQ, H, BNQ, BKH, False, True, SYNC)
        elif kind == 1:
            w = wo_ptr + layer.to(tl.int64) * H * H
            phase_tiles(w, x_ptr, y_ptr, cnt_ptr, phase, pid, n_programs, NQ // BNQ, H, H, BNO, BKH, False, False, SYNC)
        elif kind == 2:
            w = wgu_ptr + layer.to(tl.int64) * 2 * NI * H
            phase_tiles(w, x_ptr, y_ptr, cnt_ptr, phase, pid, n_programs, H // BNO, NI, H, BNG, BKH, True, True, SYNC)
        else:
            w = wd_ptr + layer.to(tl.int64) * H * NI
            phase_tiles(
                w, x_ptr, y_ptr, cnt_ptr, phase, pid, n_programs, NI // BNG, H, NI, BND, BKI, False, False, SYNC
            )


def make_weights(chain: Chain, device, seed: int = 0) -> dict[str, torch.Tensor]:
    """Distinct BF16 weights a layer, N(0, 1 / K)."""
    g = torch.Generator(device=device).manual_seed(seed)  # made where they are used: the 7b's are 13 GB
    h, i, L = chain.hidden, chain.inter, chain.layers

    def w(*shape):
        return (torch.randn(*shape, generator=g, device=device) / shape[-1] ** 0.5).to(torch.bfloat16)

    return dict(q=w(L, chain.qkv, h), o=w(L, h, h), gate_up=w(L, 2 * i, h), down=w(L, h, i))


def phase_output(chain: Chain, weights: dict, phase: int, x: torch.Tensor) -> torch.Tensor:
    """Phase ``phase``'s output row as torch computes it from its input row ``x`` (fp32 sums, a BF16 row)."""
    layer, kind = divmod(phase, PHASES_A_LAYER)
    if kind in (0, 2):  # after an RMSNorm (no gain)
        x = x[: chain.hidden].float()
        x = x * torch.rsqrt(x.square().mean() + RMS_EPS_VALUE)
    if kind == 2:
        gu = weights["gate_up"][layer].float() @ x
        g, u = gu[: chain.inter], gu[chain.inter :]
        return (g * torch.sigmoid(g) * u).bfloat16()
    name, width = (("q", chain.hidden), ("o", chain.hidden), None, ("down", chain.inter))[kind]
    return (weights[name][layer].float() @ x[:width].float()).bfloat16()


def reference(chain: Chain, weights: dict, x0: torch.Tensor) -> torch.Tensor:
    """Every phase's output row as torch computes it: [phases + 1, ``act_width``], row 0 = x0."""
    rows = [x0]
    for phase in range(chain.phases()):
        rows.append(phase_output(chain, weights, phase, rows[-1]))
    return act_rows(chain, rows, x0.device)


def act_rows(chain: Chain, rows: list[torch.Tensor], device) -> torch.Tensor:
    act = torch.zeros(chain.phases() + 1, act_width(chain), dtype=torch.bfloat16, device=device)
    for r, v in enumerate(rows):
        act[r, : v.numel()] = v
    return act


def act_width(chain: Chain) -> int:
    return max(chain.qkv, chain.inter, chain.hidden)


def kernel_args(chain: Chain, weights: dict, act: torch.Tensor, counters: torch.Tensor, first: int, last: int,
                programs: int, sync: int) -> tuple[tuple, dict]:  # fmt: skip
    """``chain_kernel``'s arguments and constexprs for phases [first, last) on ``programs`` programs."""
    args = (weights["q"], weights["o"], weights["gate_up"], weights["down"], act, counters, first, last, programs,
            act.stride(0))  # fmt: skip
    shapes = dict(H=chain.hidden, NQ=chain.qkv, NI=chain.inter, BNQ=chain.bn_qkv, BNO=chain.bn_o,
                  BNG=chain.bn_gate_up, BND=chain.bn_down, BKH=chain.bk_h, BKI=chain.bk_i)  # fmt: skip
    return args, dict(shapes, SYNC=sync, num_warps=4)


def launch(chain: Chain, weights: dict, act: torch.Tensor, counters: torch.Tensor, first: int, last: int,
           programs: int, sync: int, pdl: bool = False) -> None:  # fmt: skip
    """One launch of ``chain_kernel`` over phases [first, last) on ``programs`` programs."""
    args, kwargs = kernel_args(chain, weights, act, counters, first, last, programs, sync)
    chain_kernel[(programs,)](*args, **kwargs, **({"launch_pdl": True} if pdl else {}))


def step(chain: Chain, weights: dict, act: torch.Tensor, counters: torch.Tensor, variant: str, programs: int) -> None:
    """One decode step's chain as ``variant`` runs it (``programs``: the persistent launch's size)."""
    sync = SYNC_OF[variant]
    if variant in PERSISTENT:
        counters.zero_()
        launch(chain, weights, act, counters, 0, chain.phases(), programs, sync)
        return
    tiles = chain.tiles()
    for phase in range(chain.phases()):
        n = tiles[phase % PHASES_A_LAYER]
        launch(chain, weights, act, counters, phase, phase + 1, n, sync, pdl=sync != SYNC_PLAIN)


def resident_programs(chain: Chain, weights, act, counters, per_sm: int, sync: int) -> int:
    """The persistent launch's size, ``per_sm`` a SM, refused in one line where that many would not all be
    resident (a spin on a program that never starts would never end)."""
    props = torch.cuda.get_device_properties(act.device)
    args, kwargs = kernel_args(chain, weights, act, counters, 0, 1, 1, sync)
    kernel = chain_kernel.warmup(*args, **kwargs, grid=(1,))
    kernel._init_handles()  # loads the binary: its register count (Triton 3.8 no longer loads on attribute access)
    regs = kernel.n_regs * 32 * 4
    fits = min(props.regs_per_multiprocessor // max(regs, 1), props.max_threads_per_multi_processor // 128)
    shared = kernel.metadata.shared
    if shared:
        fits = min(fits, props.shared_memory_per_multiprocessor // shared)
    if per_sm > fits:
        raise SystemExit(f"--programs-per-sm {per_sm}: only {fits} of these programs fit on a SM ({kernel.n_regs} "
                         f"registers a thread, {shared} bytes shared); use --programs-per-sm {fits}")  # fmt: skip
    return props.multi_processor_count * per_sm


def check(chain: Chain, weights: dict, act: torch.Tensor) -> bool:
    """Every phase's row within BF16 rounding of torch's from the same input row (the sums' order differs, and a
    difference would grow along the chain if each phase were checked against torch's whole chain)."""
    for phase in range(chain.phases()):
        want = phase_output(chain, weights, phase, act[phase]).float()
        got = act[phase + 1, : want.numel()].float()
        if not torch.isfinite(want).all() or not torch.allclose(got, want, rtol=2e-2, atol=1e-2 * want.abs().max()):
            return False
    return True


def chain_of(args) -> Chain:
    chain = CHAINS[args.chain]
    return Chain(**{**chain.__dict__, "layers": args.layers}) if args.layers else chain


def run(args, save) -> list[dict]:
    """Every variant's record, ``save``d after each (a run its time limit cuts keeps what it measured)."""
    chain = chain_of(args)
    device = torch.device("cuda")
    weights = make_weights(chain, device)
    x0 = torch.randn(chain.hidden, generator=torch.Generator().manual_seed(1)).bfloat16().to(device)
    counters = torch.zeros(chain.phases(), dtype=torch.int32, device=device)
    records = []
    for per_sm in args.programs_per_sm:
        for variant in args.variants:
            if variant not in PERSISTENT and per_sm != args.programs_per_sm[0]:
                continue  # the launches do not depend on the persistent size
            act = act_rows(chain, [x0], device)
            programs = resident_programs(chain, weights, act, counters, per_sm, SYNC_OF[variant])
            step(chain, weights, act, counters, variant, programs)
            torch.cuda.synchronize()
            right = variant == "free" or check(chain, weights, act)
            stats = graph_stats([functools.partial(step, chain, weights, act, counters, variant, programs)], args.reps)
            right = right and (variant == "free" or check(chain, weights, act))  # and after the replays
            persistent = variant in PERSISTENT  # a launch variant runs a program a tile
            rec = dict(chain=args.chain, layers=chain.layers, variant=variant, right=right,
                       programs=programs if persistent else None, per_sm=per_sm if persistent else None,
                       tb_s=chain.weight_bytes() / stats["us"] / 1e6, **stats)  # fmt: skip
            records.append(rec)
            print(line(rec, chain), flush=True)
            save(records)
    return records


def line(r: dict, chain: Chain) -> str:
    programs = r["programs"] or "a tile each"
    return (f"{r['variant']:15s} programs {programs:>11}  {r['us']:8.1f} us ({r['us_min']:.1f}-{r['us_max']:.1f})"
            f"  {r['tb_s']:.2f} TB/s  right {r['right']}")  # fmt: skip


def table(records: list[dict], chain: Chain) -> str:
    """A row a variant: µs a step, TB/s, × the ``launches`` step, and the price a boundary beyond the wait-free walk
    (``free``): a persistent variant's against ``free`` of its own size, a launch variant's against the fastest
    ``free`` (the tiles' stream with no dependency at all)."""
    free = {r["per_sm"]: r["us"] for r in records if r["variant"] == "free"}
    fastest_free = min(free.values(), default=None)
    launches = next((r["us"] for r in records if r["variant"] == "launches"), None)
    boundaries = chain.phases() - 1
    out = [
        f"{chain.layers} layers x {PHASES_A_LAYER} GEMVs, BF16, batch 1 ({chain.weight_bytes() / 1e9:.2f} GB of "
        f"weights); µs a step, median of {records[0]['reps'] if records else 0} CUDA-graph replays (min-max)",
        "",
        "| variant | programs | µs a step | TB/s | × launches | µs a boundary beyond free | right |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        base = free.get(r["per_sm"]) if r["per_sm"] else fastest_free
        extra = "" if base is None or r["variant"] == "free" else f"{(r['us'] - base) / boundaries:.2f}"
        ratio = "" if launches is None else f"{r['us'] / launches:.3f}"
        programs = r["programs"] or "a tile each"
        out.append(f"| {r['variant']} | {programs} | {r['us']:.1f} ({r['us_min']:.1f}-{r['us_max']:.1f}) | "
                   f"{r['tb_s']:.2f} | {ratio} | {extra} | {r['right']} |")  # fmt: skip
    return "\n".join(out)


def parse_list(value: str, allowed, flag: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in names if v not in allowed]
    if bad or not names:
        raise SystemExit(f"{flag} {','.join(bad) or repr(value)}: use a comma list of {', '.join(allowed)}")
    return names


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--chain", default="2b", help=f"one of {', '.join(CHAINS)}")
    ap.add_argument("--layers", type=int, default=0, help="layers of the chain (default: the model's)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--programs-per-sm", default="1,2")
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args(argv)
    if args.chain not in CHAINS:
        raise SystemExit(f"--chain {args.chain}: use one of {', '.join(CHAINS)}")
    if args.layers < 0 or args.reps < 1:
        raise SystemExit(f"--layers {args.layers} --reps {args.reps}: give layers >= 1 (0: the model's) and reps >= 1")
    args.variants = parse_list(args.variants, VARIANTS, "--variants")
    # 3 a SM passed resident_programs' register check on the H200 and never finished (thirty-eighth session, call 4)
    per_sm = parse_list(args.programs_per_sm, ("1", "2"), "--programs-per-sm")
    args.programs_per_sm = [int(v) for v in per_sm]
    if not torch.cuda.is_available():
        raise SystemExit("bench_phase_boundary.py times CUDA graphs: run it on a GPU (the device tool)")
    chain = chain_of(args)
    out = pathlib.Path(args.out)
    records = run(args, lambda done: save_run(out, "bench_phase_boundary", done, table(done, chain), echo=False))
    print(table(records, chain))
    return 0 if all(r["right"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
