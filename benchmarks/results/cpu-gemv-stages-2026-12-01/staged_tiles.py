"""Staged CUDA-core tiles (Triton's software pipeliner) against one-stage ones: registers, cp.async (LDGSTS) and
other loads, instructions a program issues.

Run from the repository root with Triton 3.6: python benchmarks/results/cpu-gemv-stages-2026-12-01/staged_tiles.py
"""

import sys

sys.path.insert(0, "benchmarks")
import gemv_registers  # noqa: E402
import kernel_sass  # noqa: E402
from vlmq.engine.kernels.gemv import W_INT4, W_INT8, sum_config  # noqa: E402

CASES = [
    (W_INT4, "int4", 37888, 3584, 8, 1, 4),
    (W_INT4, "int4", 37888, 3584, 8, 1, 2),
    (W_INT8, "int8", 37888, 3584, 8, 2, 4),
    (W_INT4, "int4", 3584, 18944, 4, 4, 4),
]
for fmt, name, n, k, rows, warps, vec in CASES:
    for stages in (1, 3, 4):
        cfg = sum_config(fmt, 1, n, k, rows=rows, warps=warps, vec=vec, split=1, stages=stages)
        kernel, (args, kwargs) = gemv_registers.recorded_launch(name, n, k, None, cfg)
        c = kernel_sass.compile_kernel(kernel, args, kwargs)
        loads = {op: c.sass.count(op) for op in ("LDGSTS", "LDG.E", "LDS")}
        issued = kernel_sass.issued_per_program(c.sass, k // cfg.block_k)
        print(name, n, k, rows, warps, vec, "stages", stages, "regs", c.registers, "local", c.local_bytes, loads,
              "issued", issued, flush=True)  # fmt: skip
