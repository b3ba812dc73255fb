"""SASS of every shipped one-row CUDA-core tile (plain and fused), one line each: what a code change does to them.

Run from the repository root with Triton 3.6: python benchmarks/results/cpu-gemv-stages-2026-12-01/shipped_tiles_sass.py
"""

import hashlib
import sys

sys.path.insert(0, "benchmarks")
import bench_kernels  # noqa: E402
import gemv_registers  # noqa: E402
import kernel_sass  # noqa: E402
from vlmq.engine.kernels.gemv import FORMAT_NAMES, measured_tiles, sum_config  # noqa: E402

sum_m1 = measured_tiles()[0]
for preset in ("7b", "2b"):
    for shape in ("qkv", "o", "gate_up", "down"):
        for fmt in ("bf16", "int8", "fp8", "int4"):
            n, k = bench_kernels.SHAPES[preset][shape]
            tile = sum_m1.get((FORMAT_NAMES[fmt], n, k))
            if not tile:
                continue
            rows, warps, vec, split, pipe = tile[:5]
            cfg = sum_config(FORMAT_NAMES[fmt], 1, n, k, rows=rows, warps=warps, vec=vec, split=split)
            cfg = cfg._replace(pipe=pipe)
            for fusion in (None, bench_kernels.FUSION[shape]):
                kernel, (args, kwargs) = gemv_registers.recorded_launch(fmt, n, k, fusion, cfg)
                c = kernel_sass.compile_kernel(kernel, args, kwargs)
                body = "\n".join(line.split("*/", 1)[-1] for line in c.sass.splitlines())
                digest = hashlib.sha1(body.encode()).hexdigest()[:12]
                print(preset, shape, fmt, fusion, c.registers, len(kernel_sass.opcodes(c.sass)), digest, flush=True)
