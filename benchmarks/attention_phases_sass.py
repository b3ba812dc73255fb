"""The fused decode attention's sm_90 SASS cut into the phases its trace stamps (``bench_attention_trace.py``), counted
on a machine without a GPU (Triton's bundled ptxas and nvdisasm; ``kernel_sass``):

    PYTHONPATH=src python benchmarks/attention_phases_sass.py --out DIR [--presets 2b,7b] [--caches bf16,dynamic] \\
        [--plans 'default;warps=4'] [--batch 16 --context 8192 [--cache-length 8256]]

For each preset, cache format and plan (``$VLMQ_ATTENTION_PLAN``'s ``key=value`` form, ``default`` the engine's): the
kernel launched as a decode step launches it -- the preset's heads, batch 1, a 300-token context in a 372-slot cache
(``bench_attention.step_attention_inputs``), programmatic dependent launch as on the H200 -- recorded on the CPU,
compiled for sm_90 with the trace on, and its SASS cut at the trace's timer reads: ``start`` (to the PDL wait, the
cache blocks loaded and staged ahead of it), ``loaded`` (wait -> q, k, v loaded, rotated, the step's K/V written),
``blocks`` (-> the cache's blocks attended), ``own key`` (-> the step's own key attended), ``one-split store`` (the
PDL trigger; a head of one split stores its output), ``arrive`` (-> the partial stored and the arrival at the head's
counter), ``combine`` (-> the head's last program's combine) and ``trace record``. Each phase's
instructions a warp, barriers, shared-memory loads and stores, shuffles, tensor-core MMAs, MUFU and global loads.
Static counts: the loop over a split's later blocks (no iteration runs at the step's one-block splits) and branches
not taken count too, so a phase's figure bounds what a warp issues there; ``loop`` gives the instructions of loops
inside each phase (to subtract where they do not run). Against the trace's ns a phase (twenty-fifth session: W ->
loaded 0.83 us, -> blocks 3.50, -> own key 3.97, -> arrive 5.06, -> end 7.14, 2b BF16 in the step), instructions per
ns say whether a phase waits on its issue or on something else. Each launch also reports its stages, a program's
shared memory, the programs an SM holds (registers, warps, blocks, shared memory) and the waves its grid takes on the
H200's 132 SMs (``--batch``, ``--context``, ``--cache-length``: another launch than the step's). No speed: the GPU's
trace and Nsight Compute (``ncu_attention.py``) measure. The counts are those of the Triton this runs (the lent H200
has 3.6, CI 3.8, whose compiles differ: put a Triton 3.6 ahead on PYTHONPATH to read what the GPU runs). Writes
DIR/phases.json and DIR/phases.md.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from kernel_sass import SMS, compile_kernel, instruction_lines, loop_spans, recording, resident_warps  # noqa: E402

PRESETS = {"2b": "qwen2-vl-2b", "7b": "qwen2-vl-7b"}
CACHES = ("bf16", "dynamic", "visual_aware")
# the code between consecutive timer reads, in the kernel's order (the one-split store and the arrival are the two arms
# of one branch: a one-split head stores its output, the others store their partials and arrive; the head's last
# arrival combines), named by the read that ends it
PHASES = ("start", "loaded", "blocks", "own key", "one-split store", "arrive", "combine", "trace record")
TIMER = "SR_GLOBALTIMER"  # the trace's timer read (``attention_triton.timer_after``): the phase boundaries
# what a phase's count holds: (column, opcode prefixes)
KINDS = (
    ("barriers", ("BAR.SYNC",)),
    ("shared", ("LDS", "STS", "LDSM", "STSM")),
    ("shuffles", ("SHFL",)),
    ("mma", ("HMMA", "HGMMA")),
    ("mufu", ("MUFU",)),
    ("global loads", ("LDG", "LDGSTS")),
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--presets", default="2b")
    p.add_argument("--caches", default="bf16,dynamic")
    p.add_argument("--plans", default="default", help="';'-separated plans: default, or key=value[,key=value]")
    p.add_argument("--batch", type=int, default=1, help="batch rows of the launch (default 1)")
    p.add_argument("--context", type=int, default=None, help="the step's context in tokens (default: the step's, 300)")
    p.add_argument(
        "--cache-length", type=int, default=None, help="static cache slots (default: the step's 372, or context + 64)"
    )
    args = p.parse_args(argv)
    from bench_attention import STEP_CACHE, STEP_CONTEXT

    context = STEP_CONTEXT if args.context is None else args.context
    cache_length = args.cache_length or (STEP_CACHE if args.context is None else context + 64)
    if args.batch < 1 or context < 1 or cache_length <= context:
        raise SystemExit(
            f"--batch {args.batch} --context {context} --cache-length {cache_length}: use a batch of 1 or more and a "
            "cache longer than the context (the step writes slot `context`)"
        )
    args.context, args.cache_length = context, cache_length
    return args


def recorded_launch(preset: str, kind: str, plan: dict, batch: int = 1, context: int | None = None,
                    cache_length: int | None = None):  # fmt: skip
    """(kernel, args, kwargs, grid) of the fused attention's launch for ``preset``'s heads as the H200's step makes it
    (``batch`` rows, ``context`` tokens in a ``cache_length``-slot cache; default the step's 300 in 372): the launch
    recorded on the CPU with the trace on, then given the GPU's PDL trigger."""
    import vlmq.engine.kernels.attention_triton as attention_triton
    from bench_attention import config_attention_shape, step_attention_inputs
    from vlmq.engine.kernels.attention import launch_decode_attention
    from vlmq.engine.kernels.pdl import pdl_trigger
    from vlmq.models.presets import preset_config

    shape = config_attention_shape(preset_config(PRESETS[preset]))
    sizes = {k: v for k, v in (("context", context), ("cache_length", cache_length)) if v is not None}
    caches, q, key_valid, rope = step_attention_inputs(shape, kind, batch, 1, "cpu", **sizes)
    kv = caches[0]
    with recording(attention_triton, "decode_attention_kernel") as (recorder,):
        launch_decode_attention(q, kv.k, kv.v, kv.k_scale, kv.v_scale, key_valid, rope=rope, trace=True, **plan)
    ((args, kwargs),), (grid,) = recorder.calls, recorder.grids
    return recorder.kernel, args, dict(kwargs, PDL=pdl_trigger("attention")), grid  # compile_kernel sets CUDA


def phase_counts(sass: str) -> list[dict]:
    """The SASS's instructions cut at the trace's timer reads into ``PHASES``: each phase's counts (``KINDS``), its
    instructions and those of the loops inside it."""
    instructions, labels = instruction_lines(sass)
    cuts = [i for i, (_, operands) in enumerate(instructions) if TIMER in operands]
    if len(cuts) != len(PHASES):
        raise ValueError(f"{len(cuts)} timer reads in the SASS, {len(PHASES)} expected: not the traced attention?")
    in_loop = {i for first, last in loop_spans(instructions, labels) for i in range(first, last + 1)}
    bounds = [0, *cuts[1:], len(instructions)]  # the first read is the kernel's start
    out = []
    for name, lo, hi in zip(PHASES, bounds, bounds[1:]):
        ops = [opcode for opcode, _ in instructions[lo:hi]]
        row = {"phase": name, "instructions": len(ops), "loop": sum(i in in_loop for i in range(lo, hi))}
        for column, prefixes in KINDS:
            row[column] = sum(op.startswith(prefixes) for op in ops)
        out.append(row)
    return out


def markdown(results: list[dict], triton_version: str) -> str:
    head = ["phase", "instructions", "in loops", *(c for c, _ in KINDS)]
    lines = [
        "The fused decode attention's sm_90 SASS a warp issues in each traced phase (static counts, Triton "
        f"{triton_version}'s compile; `attention_phases_sass.py`)",
        "",
    ]
    for r in results:
        lines += [
            f"### {r['preset']}, {r['cache']} cache, plan {r['plan']}: {r['warps']} warps, {r['registers']} registers, "
            f"{r['local_bytes']} bytes of local memory a thread",
            "",
            f"batch {r['batch']}, {r['context']} tokens in {r['cache_length']} slots: {r['stages']} stage(s), "
            f"{r['shared_bytes']} bytes of shared memory a program, {r['programs_per_sm']} programs an SM; "
            f"{r['programs']} programs launched: {r['waves']} wave(s) on {SMS} SMs",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for p in r["phases"]:
            cells = [p["phase"], p["instructions"], p["loop"], *(p[c] for c, _ in KINDS)]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    from bench_phase_boundary import parse_list
    from vlmq.engine.kernels.attention import parse_attention_plan

    presets = parse_list(args.presets, list(PRESETS), "--presets")
    caches = parse_list(args.caches, CACHES, "--caches")
    plans = [p.strip() for p in args.plans.split(";") if p.strip()] or ["default"]
    parsed = {p: parse_attention_plan(p) for p in plans}  # a bad plan is refused before anything compiles
    results = []
    for preset in presets:
        for kind in caches:
            for text, plan in parsed.items():
                kernel, launch_args, kwargs, grid = recorded_launch(
                    preset, kind, plan, args.batch, args.context, args.cache_length
                )
                compiled = compile_kernel(kernel, launch_args, kwargs)
                warps = kwargs["num_warps"]
                per_sm = resident_warps(compiled.registers, warps, compiled.shared_bytes) // warps
                programs = math.prod(grid)
                results.append(
                    {
                        "preset": preset,
                        "cache": kind,
                        "plan": text,
                        "batch": args.batch,
                        "context": args.context,
                        "cache_length": args.cache_length,
                        "warps": warps,
                        "stages": kwargs["num_stages"],
                        "registers": compiled.registers,
                        "local_bytes": compiled.local_bytes,
                        "shared_bytes": compiled.shared_bytes,
                        "programs_per_sm": per_sm,
                        "programs": programs,
                        "waves": -(-programs // (per_sm * SMS)),
                        "phases": phase_counts(compiled.sass),
                    }
                )
    import triton

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"triton": triton.__version__, "results": results}
    (out / "phases.json").write_text(json.dumps(record, indent=1) + "\n")
    text = markdown(results, triton.__version__)
    (out / "phases.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
