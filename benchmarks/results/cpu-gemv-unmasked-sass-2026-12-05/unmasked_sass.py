"""The shipped one-row CUDA-core tiles of the 2b and 7b (the tile table's, each shape in the fused form the engine
runs: ``bench_kernels.engine_form``) compiled for sm_90 on the CPU with ``$VLMQ_GEMV_UNMASKED`` 0 (the default) and 1:
registers, instructions a lane issues a weight value, instructions a K tile, per weight format as a recipe runs it
(``gemv_registers.MODES``). Run from the repository root:

    PYTHONPATH=[/tmp/t36:]src:benchmarks python benchmarks/results/cpu-gemv-unmasked-sass-2026-12-05/unmasked_sass.py
"""

import os

import triton

import bench_kernels
import gemv_registers
from kernel_sass import compile_kernel, loop_body
from vlmq.engine.kernels.gemv import measured_tiles, sum_config, table_key

print(f"Triton {triton.__version__}")
print("| tile | format | rows | warps | vec | 0: regs | issued/value | a K tile | 1: regs | issued/value | a K tile |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
sum_m1, _, dot_m1 = measured_tiles()
for fmt in ("int4", "int8", "bf16", "fp8", "int8-a8"):
    code = bench_kernels.cfg_format(gemv_registers.MODES[fmt])
    activations = bench_kernels.cfg_activations(gemv_registers.MODES[fmt])
    for preset in ("2b", "7b"):
        for shape in ("qkv", "o", "gate_up", "down"):
            n, k = bench_kernels.SHAPES[preset][shape]
            tile = sum_m1.get(table_key((sum_m1, dot_m1), code, n, k, activations))
            if tile is None:
                continue
            rows, warps, vec, split, pipe, stages, maxnreg = tile
            cfg = sum_config(code, 1, n, k, rows=rows, warps=warps, vec=vec, split=split)
            cfg = cfg._replace(pipe=pipe, num_stages=stages, maxnreg=maxnreg)
            cells = []
            for setting in ("0", "1"):
                os.environ["VLMQ_GEMV_UNMASKED"] = setting
                fusion = bench_kernels.FUSION[shape]
                kernel, (args, kwargs) = gemv_registers.recorded_launch(fmt, n, k, fusion, cfg, shape)
                compiled = compile_kernel(kernel, args, kwargs)
                per_value = gemv_registers.issued_per_value(compiled.sass, cfg, code, n, k)
                cells += [compiled.registers, per_value, sum(loop_body(compiled.sass).values())]
            row = f"| {preset} {shape} | {fmt} | {rows} | {warps} | {vec} | " + " | ".join(map(str, cells)) + " |"
            print(row, flush=True)
