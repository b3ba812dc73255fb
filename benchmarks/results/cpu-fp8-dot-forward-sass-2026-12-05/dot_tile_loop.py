"""The 2b fp8 gate/up's one-row tensor-core tile (the shipped dot_m1 tile) compiled for sm_90 on the CPU in the two
forms the fifty-first session timed on the H200 (10.18 -> 18.98 us a launch): codes from normalize_rows, and float rows
quantized in the tile with forwarded maxima, the RMSNorm deferred ($VLMQ_W8A8_ROW_MAX=forward with the norm kept out
of normalize_rows, as the rule then allowed). Prints registers and the memory, barrier and shuffle opcodes of the
whole kernel and of its K loop. Run from the repository root:

    PYTHONPATH=/tmp/t36:src:benchmarks python benchmarks/results/cpu-fp8-dot-forward-sass-2026-12-05/dot_tile_loop.py
"""

import collections
import re

import torch
import triton

import bench_kernels
import vlmq.engine.kernels.gemv_triton as gemv_triton
from kernel_sass import compile_kernel, loop_body, recording
from vlmq.engine.kernels.gemv import A_FP8, ACT_SILU_MUL, GEMV_MAX_M, W_FP8, default_config, gemv

SHOWN = ("LDL", "STL", "LDS", "STS", "BAR", "LDG", "SHFL", "MUFU", "WARPGROUP", "HGMMA")

print(f"Triton {triton.__version__}")
n, k = bench_kernels.SHAPES["2b"]["gate_up"]
pack = bench_kernels.random_pack("fp8", "fp8", n, k, "cpu", 0)
cfg = default_config(W_FP8, 1, n, k, a_mode=A_FP8)
print(cfg)
forms = {
    "codes from normalize_rows": dict(x=torch.randn(1, k).to(torch.float8_e4m3fn), x_scale=torch.ones(1)),
    "forwarded maxima, norm deferred": dict(
        x=torch.randn(1, k, dtype=torch.bfloat16),
        x_row_max=torch.ones(GEMV_MAX_M),
        norm_weight=torch.ones(k, dtype=torch.bfloat16),
        norm_first=False,
    ),
}
for label, kw in forms.items():
    x = kw.pop("x")
    with recording(gemv_triton, "gemv_kernel", "normalize_rows_kernel") as (rec, _):
        gemv(x, pack.weight, pack.scale, config=cfg, a_mode=A_FP8, act=ACT_SILU_MUL, **kw)
    args, kwargs = rec.calls[0]
    compiled = compile_kernel(rec.kernel, args, kwargs)
    ops = collections.Counter(re.findall(r"/\*[0-9a-f]{4}\*/\s+([A-Z][A-Z0-9._]*)", compiled.sass))
    loop = loop_body(compiled.sass)
    flags = {name: kwargs[name] for name in ("NORM", "ROW_MAX", "ONE_ROW", "X_PRE")}
    print(f"{label}: {compiled.registers} registers; {flags}")
    print("  kernel:", {op: c for op, c in sorted(ops.items()) if op.startswith(SHOWN)})
    print(
        f"  K loop ({sum(loop.values())} instructions):",
        {op: c for op, c in sorted(loop.items()) if op.startswith(SHOWN)},
    )
