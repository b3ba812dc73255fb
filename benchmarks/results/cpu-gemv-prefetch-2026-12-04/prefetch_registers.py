"""The shipped staged one-row GEMV tiles, launched as the decode step launches them (PDL on, as on Hopper), compiled
for sm_90 on the CPU with $VLMQ_GEMV_PREFETCH off and l2: (stages, lines a weight row prefetched, registers, local
bytes, CCTL.E.PF2 prefetch instructions a thread). Forty-sixth session, with the H200 image's Triton:

    pip install --no-deps --target /tmp/t36 triton==3.6.0
    PYTHONPATH=/tmp/t36:src python benchmarks/results/cpu-gemv-prefetch-2026-12-04/prefetch_registers.py
"""

import os
import pathlib
import sys

import torch
import triton

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # benchmarks/

import vlmq.engine.kernels.gemv_triton as gemv_triton  # noqa: E402
from kernel_sass import Recorder, compile_kernel  # noqa: E402
from vlmq.engine.kernels import pdl  # noqa: E402
from vlmq.engine.kernels.gemv import ACT_SILU_MUL, gemv  # noqa: E402

# name: (N, K, weights, fusion) -- the 7b's RMSNorms run first (normalize_rows), so its GEMVs take plain rows
CASES = {
    "2b int8 qkv": (2048, 1536, "int8", "norm"),
    "2b int8 gate_up": (17920, 1536, "int8", "silu"),
    "2b int8 down": (1536, 8960, "int8", "resid"),
    "7b int8 o": (3584, 3584, "int8", "resid"),
    "7b int8 gate_up": (37888, 3584, "int8", "act"),
    "7b int8 down": (3584, 18944, "int8", "resid"),
    "2b bf16 qkv": (2048, 1536, "bf16", "norm"),
    "2b bf16 o": (1536, 1536, "bf16", "resid"),
    "2b bf16 down": (1536, 8960, "bf16", "resid"),
}


def fusion(kind: str, n: int, k: int) -> dict:
    norm = torch.rand(k).bfloat16()
    return {
        "norm": dict(norm_weight=norm),
        "silu": dict(norm_weight=norm, act=ACT_SILU_MUL),
        "act": dict(act=ACT_SILU_MUL),
        "resid": dict(residual=torch.randn(1, n).bfloat16()),
    }[kind]


def main() -> None:
    pdl.pdl_capable = lambda device: True
    recorder = Recorder(gemv_triton.gemv_kernel)
    gemv_triton.gemv_kernel = recorder
    rows = {}
    for setting in ("off", "l2"):
        os.environ["VLMQ_GEMV_PREFETCH"] = setting
        for name, (n, k, fmt, kind) in CASES.items():
            if fmt == "int8":
                w, s = torch.randint(-127, 128, (n, k), dtype=torch.int8), torch.rand(n).bfloat16()
            else:
                w, s = torch.randn(n, k).bfloat16(), None
            gemv(torch.randn(1, k).bfloat16(), w, s, **fusion(kind, n, k))
            args, kwargs = recorder.calls[-1]
            c = compile_kernel(recorder.kernel, args, kwargs)
            cell = (kwargs["STAGES"], kwargs["PREFETCH"], c.registers, c.local_bytes, c.sass.count("CCTL"))
            rows.setdefault(name, []).append(cell)
    print("triton", triton.__version__)
    for name, (off, l2) in rows.items():
        print(f"{name:18s} off (stages, lines, regs, local, cctl) {off}  l2 {l2}")


if __name__ == "__main__":
    main()
