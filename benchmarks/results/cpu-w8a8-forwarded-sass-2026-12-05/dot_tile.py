"""The one-row fp8 tensor-core tile of the 2b and 7b gate/up (the shipped dot_m1 tiles) compiled for sm_90 on the CPU
in three forms: rows quantized by normalize_rows first (what the engine runs by default), float rows quantized in the
tile with their maxima (ROW_MAX 2, no norm: the live row alone, ONE_ROW), and the same with the RMSNorm deferred
($VLMQ_W8A8_ROW_MAX=forward's gate/up). Run from the repository root:

    PYTHONPATH=[/tmp/t36:]src:benchmarks python benchmarks/results/cpu-w8a8-forwarded-sass-2026-12-05/dot_tile.py
"""

import torch
import triton

import bench_kernels
import vlmq.engine.kernels.gemv_triton as gemv_triton
from kernel_sass import compile_kernel, issued_per_program, loop_body, recording
from vlmq.engine.kernels.gemv import A_FP8, ACT_SILU_MUL, GEMV_MAX_M, W_FP8, default_config, gemv

print(f"Triton {triton.__version__}; instructions a program issues (static: the K loop times its tiles, the rest once)")
for preset in ("2b", "7b"):
    n, k = bench_kernels.SHAPES[preset]["gate_up"]
    pack = bench_kernels.random_pack("fp8", "fp8", n, k, "cpu", 0)
    cfg = default_config(W_FP8, 1, n, k, a_mode=A_FP8)
    x = torch.randn(1, k, dtype=torch.bfloat16)
    norm = torch.ones(k, dtype=torch.bfloat16)
    maxima = torch.ones(GEMV_MAX_M)
    forms = {
        "normalize_rows first": dict(norm_weight=norm),
        "maxima, no norm": dict(x_row_max=maxima),
        # the norm kept out of normalize_rows: since the fifty-first session the rule gives a tensor-core tile no maxima
        "maxima, norm deferred": dict(x_row_max=maxima, norm_weight=norm, norm_first=False),
    }
    for label, kw in forms.items():
        with recording(gemv_triton, "gemv_kernel", "normalize_rows_kernel") as (rec, _):
            gemv(x, pack.weight, pack.scale, config=cfg, a_mode=A_FP8, act=ACT_SILU_MUL, **kw)
        args, kwargs = rec.calls[0]
        compiled = compile_kernel(rec.kernel, args, kwargs)
        per = issued_per_program(compiled.sass, k // cfg.block_k)
        flags = {name: kwargs[name] for name in ("NORM", "ROW_MAX", "ONE_ROW", "X_PRE")}
        print(
            f"{preset} gate_up {cfg.block_n}x{cfg.block_k} tile, {label}: {compiled.registers} registers, "
            f"{per} instructions a program, {sum(loop_body(compiled.sass).values())} a K tile; {flags}"
        )
