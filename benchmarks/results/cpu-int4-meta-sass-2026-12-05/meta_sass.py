"""The shipped one-row CUDA-core int4 tiles of the 2b and 7b (the tile table's, each shape in the fused form the
engine runs: ``bench_kernels.engine_form``) compiled for sm_90 on the CPU with ``$VLMQ_GEMV_META`` masked (the
default) and unmasked: registers, instructions a lane issues a weight value, instructions a K tile. Run from the
repository root:

    PYTHONPATH=[/tmp/t36:]src:benchmarks python benchmarks/results/cpu-int4-meta-sass-2026-12-05/meta_sass.py
"""

import os

import triton

import bench_kernels
import gemv_registers
from kernel_sass import compile_kernel, loop_body
from vlmq.engine.kernels.gemv import W_INT4, measured_tiles, sum_config, table_key

print(f"Triton {triton.__version__}")
print(
    "| tile | rows | warps | vec | masked: regs | issued/value | a K tile | unmasked: regs | issued/value | a K tile |"
)
print("|---|---|---|---|---|---|---|---|---|---|")
sum_m1, _, dot_m1 = measured_tiles()
for preset in ("2b", "7b"):
    for shape in ("qkv", "o", "gate_up", "down"):
        n, k = bench_kernels.SHAPES[preset][shape]
        rows, warps, vec, split, pipe, stages, maxnreg = sum_m1[table_key((sum_m1, dot_m1), W_INT4, n, k)]
        cfg = sum_config(W_INT4, 1, n, k, rows=rows, warps=warps, vec=vec, split=split)
        cfg = cfg._replace(pipe=pipe, num_stages=stages, maxnreg=maxnreg)
        cells = []
        for setting in ("masked", "unmasked"):
            os.environ["VLMQ_GEMV_META"] = setting
            kernel, (args, kwargs) = gemv_registers.recorded_launch(
                "int4", n, k, bench_kernels.FUSION[shape], cfg, shape
            )
            compiled = compile_kernel(kernel, args, kwargs)
            per_value = gemv_registers.issued_per_value(compiled.sass, cfg, W_INT4, n, k)
            cells += [compiled.registers, per_value, sum(loop_body(compiled.sass).values())]
        print(f"| {preset} {shape} | {rows} | {warps} | {vec} | " + " | ".join(map(str, cells)) + " |", flush=True)
