"""Registers, spill bytes and instructions of every shipped one-row CUDA-core tile, plain and fused, uncapped and
under each register cap the one-row sweep times (bench_kernels.MAXNREG_CAPS): what a cap makes the compiler do.

Run from the repository root with Triton 3.6 (the device's compiler), output to capped.txt beside this file:
python benchmarks/results/cpu-gemv-maxnreg-2026-12-01/capped_tiles.py
"""

import sys

sys.path.insert(0, "benchmarks")
import triton  # noqa: E402

import bench_kernels  # noqa: E402
import gemv_registers  # noqa: E402
import kernel_sass  # noqa: E402
from vlmq.engine.kernels.gemv import FORMAT_NAMES, default_config  # noqa: E402

print(f"# Triton {triton.__version__}, sm_90; per cap: registers / spill bytes / instructions (cap 0: none)")
for preset in ("7b", "2b"):
    for shape in ("qkv", "o", "gate_up", "down"):
        for fmt in ("bf16", "int8", "fp8", "int4"):
            n, k = bench_kernels.SHAPES[preset][shape]
            tile = default_config(FORMAT_NAMES[fmt], 1, n, k, 128, cuda_cores=True)
            for fusion in (None, bench_kernels.FUSION[shape]):
                cells = []
                for cap in (0, *bench_kernels.MAXNREG_CAPS):
                    kernel, (args, kwargs) = gemv_registers.recorded_launch(
                        fmt, n, k, fusion, tile._replace(maxnreg=cap)
                    )
                    c = kernel_sass.compile_kernel(kernel, args, kwargs)
                    cells.append(f"{cap}:{c.registers}/{c.local_bytes}/{len(kernel_sass.opcodes(c.sass))}")
                rows, warps, vec = tile.block_n, tile.num_warps, tile.vec
                print(
                    preset,
                    shape,
                    fmt,
                    fusion or "plain",
                    f"rows {rows} warps {warps} vec {vec}",
                    " ".join(cells),
                    flush=True,
                )
