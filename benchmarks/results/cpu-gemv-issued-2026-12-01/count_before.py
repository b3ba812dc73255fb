"""The 'before' column of docs/benchmarks.md's eighteenth-session table: instructions a lane issues per weight value
of four int4 tiles, counted with this commit's kernel_sass from the SASS of the kernel as it was at c283ca0 (before K
and the row strides became constants and the narrower K tail). Run from the repository root with Triton 3.6:

    git worktree add /tmp/vlmq-c283ca0 c283ca0
    PYTHONPATH=/tmp/vlmq-c283ca0/src:/tmp/vlmq-c283ca0/benchmarks python \\
        benchmarks/results/cpu-gemv-issued-2026-12-01/count_before.py benchmarks/kernel_sass.py
"""

import importlib.util
import math
import sys

import gemv_registers  # the worktree's (records the old kernel's launch)
from vlmq.engine.kernels.gemv import W_INT4, sum_config

spec = importlib.util.spec_from_file_location("kernel_sass_now", sys.argv[1])
kernel_sass = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kernel_sass)

for shape, (n, k), rows, warps, vec in (
    ("7b gate_up", (37888, 3584), 8, 1, 4),
    ("7b gate_up", (37888, 3584), 8, 1, 2),
    ("7b down", (3584, 18944), 8, 2, 4),
    ("7b down", (3584, 18944), 8, 2, 2),
):
    cfg = sum_config(W_INT4, 1, n, k, rows=rows, warps=warps, vec=vec, split=1)
    kernel, (args, kwargs) = gemv_registers.recorded_launch("int4", n, k, None, cfg)
    compiled = kernel_sass.compile_kernel(kernel, args, kwargs)
    issued = kernel_sass.issued_per_program(compiled.sass, math.ceil(k / cfg.block_k))
    per_value = issued / (rows * k / (32 * warps))
    print(f"{shape} rows {rows} warps {warps} vec {vec}: {compiled.registers} registers, {per_value:.2f} a value-lane")
