"""Registers, local memory and resident warps of the decode GEMV's CUDA-core tiles, from the sm_90 compiler, on a
machine without a GPU (Triton's bundled ptxas and cuobjdump; ``kernel_sass``):

    PYTHONPATH=src python benchmarks/gemv_registers.py --out DIR [--presets 7b] [--shapes gate_up,down]
        [--formats int4] [--rows 4,8,16] [--warps 1,2] [--vecs 1,2,4]

For each shape and weight format, every (rows, warps, vec, pipe) tile, in one K slice, is compiled as the sweep times
it (``bench_kernels.py --sweep``: the plain linear) and as the engine runs it (the shape's fusion: RMSNorm prologue
and SiLU·mul epilogue on gate/up, the residual on o and down; fp8, the fp8 recipe's W8A8, quantizes its rows in the
kernel, down_proj's with the row maxima: ``bench_kernels.engine_form``), and the table gives each a thread's
registers, its local memory (spills), the warps an SM then holds (registers, 64 warps, 32 blocks) and the instructions
a lane issues per weight value (counted statically from the SASS: the K loop times its tiles, the rest once), marking
the tile the shipped table (``tiles/h200.json``) uses. No speed: which tile is faster is the sweep's to measure on the
GPU; this says which tiles keep more warps resident (where a kernel bound by memory latency would gain) and which
issue fewer instructions (where one bound by issue would: the int4 tiles, Nsight Compute). Writes DIR/registers.json
and DIR/registers.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import sys

import torch

import bench_kernels
from kernel_sass import compile_kernel, instruction_lines, issued_per_program, loop_body, recording, resident_warps
from vlmq.errors import VlmqError

# the formats whose one-row CUDA-core tiles it compiles, and the bench_kernels mode of each as a recipe runs it:
# int4 / int8 packed words under float rows (weight-only), FP8 weights under e4m3 rows (the fp8 recipe's W8A8), int8
# weights under int8 rows (int8-a8: smoothquant's W8A8, which the tile table serves int8_wo's tiles)
MODES = {"int4": "int4-g128", "int8": "int8-a16", "fp8": "fp8-a8", "int8-a8": "int8-a8", "bf16": "bf16"}
FORMATS = ("int4", "int8", "fp8", "int8-a8")
W8A8_FORMATS = ("fp8", "int8-a8")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--presets", default="7b")
    p.add_argument("--shapes", default="gate_up,down")
    p.add_argument("--formats", default="int4")
    p.add_argument("--rows", default="4,8,16")
    p.add_argument("--warps", default="1,2")
    p.add_argument("--vecs", default="1,2,4")
    return p.parse_args(argv)


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def recorded_launch(
    fmt: str, n: int, k: int, fusion: str | None, cfg, shape: str | None = None, forwarded: bool = False
):
    """The gemv kernel's launch for a [1, k] row through a random ``fmt`` pack of [n, k] with ``cfg``: plain
    (``fusion`` None: rows as the sweep times them, float, or W8A8 rows quantized by the caller) or in the form the
    engine runs for ``shape`` (default: the first of ``bench_kernels.FUSION`` with that ``fusion``;
    ``bench_kernels.engine_form``, ``forwarded`` as there), recorded on the CPU instead of run."""
    import vlmq.engine.kernels.gemv_triton as gemv_triton
    from vlmq.engine.kernels import quantize_activation
    from vlmq.engine.kernels.gemv import gemv

    mode = MODES[fmt]
    weights, a_mode = bench_kernels.MODES[mode]
    pack = bench_kernels.random_pack(weights, a_mode, n, k, "cpu", 0)
    x = torch.randn(1, k, dtype=torch.bfloat16)
    if fusion is not None:
        shape = shape or next(name for name, form in bench_kernels.FUSION.items() if form == fusion)
        rows, kwargs = x, bench_kernels.engine_form(shape, mode, x, n, forwarded=forwarded)
    else:
        rows, x_scale = quantize_activation(x, a_mode)
        kwargs = dict(x_scale=x_scale, a_mode=bench_kernels.cfg_activations(mode))
    # where the engine's rule runs the RMSNorm first (normalize_rows), that launch is recorded and left out
    with recording(gemv_triton, "gemv_kernel", "normalize_rows_kernel") as (recorder, _):
        gemv(rows, pack.weight, pack.scale, pack.zero, pack.group_size, None, config=cfg, **kwargs)
    return recorder.kernel, recorder.calls[0]


def tile_rows(preset: str, shape: str, fmt: str, rows, warps, vecs) -> list[dict]:
    from vlmq.engine.kernels.gemv import measured_tiles, sum_config, table_key

    n, k = bench_kernels.SHAPES[preset][shape]
    code = bench_kernels.cfg_format(MODES[fmt])  # the weights' format (int8-a8: int8)
    sum_m1, _, dot_m1 = measured_tiles()
    shipped = sum_m1.get(table_key((sum_m1, dot_m1), code, n, k, bench_kernels.cfg_activations(MODES[fmt])))
    out = []
    for r, w, vec, pipe in itertools.product(rows, warps, vecs, (False, True)):
        cfg = sum_config(code, 1, n, k, rows=r, warps=w, vec=vec, split=1)._replace(pipe=pipe)  # one K slice
        row = dict(preset=preset, shape=shape, format=fmt, n=n, k=k, rows=r, warps=w, vec=vec, pipe=pipe)
        row["shipped"] = shipped is not None and (r, w, vec, pipe) == (shipped[0], shipped[1], shipped[2], shipped[4])
        if row["shipped"]:  # compiled as the engine runs it: the table's pipeline stages and register cap too
            cfg = cfg._replace(num_stages=shipped[5], maxnreg=shipped[6])
        row["stages"], row["maxnreg"] = cfg.num_stages, cfg.maxnreg
        fusion = bench_kernels.FUSION[shape]
        forms = [("plain", None, False), ("fused", fusion, False)]
        if fmt in W8A8_FORMATS and "norm" in fusion:  # $VLMQ_W8A8_ROW_MAX=forward's form too
            forms.append(("forwarded", fusion, True))
        for label, fusion, forwarded in forms:
            kernel, (args, kwargs) = recorded_launch(fmt, n, k, fusion, cfg, shape, forwarded)
            compiled = compile_kernel(kernel, args, kwargs)
            row[label] = dict(
                registers=compiled.registers,
                local_bytes=compiled.local_bytes,
                warps_per_sm=resident_warps(compiled.registers, w),
                issued_per_value=issued_per_value(compiled.sass, cfg, code, n, k),
                loop_opcodes=dict(loop_body(compiled.sass)),  # what the K loop issues a lane, by opcode
                instructions=len(instruction_lines(compiled.sass)[0]),  # the whole kernel's, the loop's once
            )
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


def issued_per_value(sass: str, cfg, code: int, n: int, k: int) -> float:
    """Instructions a lane issues per weight value it multiplies (``kernel_sass.issued_per_program`` over the
    program's K tiles: whole ones, a narrower last one where ``gemv.tail_vec`` runs it, else a masked whole one)."""
    from vlmq.engine.kernels.gemv import k_slices, tail_vec

    k_split, split = k_slices(cfg, k)
    tiles = k // cfg.block_k if tail_vec(cfg, code, n, k, split) else k_split // cfg.block_k
    values = cfg.block_n * min(k, k_split) / (32 * cfg.num_warps)
    return round(issued_per_program(sass, tiles) / values, 2)


def registers_markdown(rows: list[dict], triton_version: str) -> str:
    lines = [
        "Registers a thread, local memory (bytes a thread) and resident warps an SM of the CUDA-core decode GEMV at "
        f"one row (sm_90 compile, Triton {triton_version}, no GPU); plain = as the sweep times it, fused = as the "
        "engine runs it, forwarded = a W8A8 row quantized in the loop with maxima gathered before its RMSNorm, the "
        "norm deferred ($VLMQ_W8A8_ROW_MAX=forward's form, even where the engine normalizes first); * = the "
        "shipped tile, compiled with the table's pipeline stages and register cap (0: none).",
        "",
        "| shape | format | rows | warps | vec | pipe | stages | cap | plain regs | local | warps/SM | issued/value "
        "| fused regs | local | warps/SM | issued/value | forwarded regs | issued/value |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p, f = r["plain"], r["fused"]
        fwd = r.get("forwarded") or dict(registers="-", issued_per_value="-")
        name = f"{r['preset']} {r['shape']}" + (" *" if r["shipped"] else "")
        lines.append(
            f"| {name} | {r['format']} | {r['rows']} | {r['warps']} | {r['vec']} | {int(r['pipe'])} | "
            f"{r['stages']} | {r['maxnreg']} | {p['registers']} | {p['local_bytes']} | {p['warps_per_sm']} | "
            f"{p['issued_per_value']} | {f['registers']} | {f['local_bytes']} | {f['warps_per_sm']} | "
            f"{f['issued_per_value']} | {fwd['registers']} | {fwd['issued_per_value']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    presets, shapes, formats = (v.split(",") for v in (args.presets, args.shapes, args.formats))
    for name, values, known in (
        ("--presets", presets, bench_kernels.SHAPES),
        ("--shapes", shapes, bench_kernels.FUSION),
        ("--formats", formats, FORMATS),
    ):
        unknown = [v for v in values if v not in known]
        if unknown:
            raise VlmqError(f"{name} {','.join(unknown)}: use some of {','.join(known)}")
    try:
        import triton
    except ImportError:
        print("gemv_registers.py compiles with Triton: pip install triton (no GPU needed)", file=sys.stderr)
        return 2
    rows = []
    for preset, shape, fmt in itertools.product(presets, shapes, formats):
        rows += tile_rows(preset, shape, fmt, ints(args.rows), ints(args.warps), ints(args.vecs))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "registers.json").write_text(json.dumps(rows, indent=1))
    text = registers_markdown(rows, triton.__version__)
    (out / "registers.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
