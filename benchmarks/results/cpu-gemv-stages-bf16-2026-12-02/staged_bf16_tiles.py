"""BF16 CUDA-core tiles through Triton's software pipeliner (the one-row sweep's new bf16 candidates) against the
shipped one-stage tiles: registers, cp.async (LDGSTS) and other loads, instructions a program issues.

Run from the repository root with Triton 3.6:
python benchmarks/results/cpu-gemv-stages-bf16-2026-12-02/staged_bf16_tiles.py
"""

import sys

sys.path.insert(0, "benchmarks")
import gemv_registers  # noqa: E402
import kernel_sass  # noqa: E402
from vlmq.engine.kernels.gemv import W_FLOAT, default_config, sum_config  # noqa: E402

SHAPES = {"2b qkv": (2048, 1536), "2b o": (1536, 1536), "2b down": (1536, 8960), "7b qkv": (4608, 3584),
          "7b o": (3584, 3584)}  # fmt: skip
for shape, (n, k) in SHAPES.items():
    shipped = default_config(W_FLOAT, 1, n, k, cuda_cores=True)
    for stages in (1, 3, 4):
        cfg = shipped if stages == 1 else sum_config(
            W_FLOAT, 1, n, k, rows=shipped.block_n, warps=shipped.num_warps, split=shipped.split_k, stages=stages
        )  # fmt: skip
        kernel, (args, kwargs) = gemv_registers.recorded_launch("bf16", n, k, None, cfg)
        c = kernel_sass.compile_kernel(kernel, args, kwargs)
        loads = {op: c.sass.count(op) for op in ("LDGSTS", "LDG.E", "LDS")}
        issued = kernel_sass.issued_per_program(c.sass, -(-k // (cfg.block_k * cfg.split_k)))
        print(shape, "rows", cfg.block_n, "warps", cfg.num_warps, "split", cfg.split_k, "stages", stages, "regs",
              c.registers, "local", c.local_bytes, loads, "issued", issued, flush=True)  # fmt: skip
