"""The Triton GEMV's split-K path on a CPU, through Triton's interpreter (TRITON_INTERPRET=1).

Skipped where Triton is not installed (.ci/run installs it). The interpreter mis-computes bf16 dots,
so the 8-bit activation modes are checked here and the bf16 mode on the GPU (tests marked gpu).
"""

import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")

SCRIPT = r"""
import torch
from vlmq.engine.kernels.w8 import _launch_w8_gemv, quantize_activation, w8_linear_reference
torch.manual_seed(0)
worst = 0.0
for a_mode, wdtype in (("int8", torch.int8), ("fp8", torch.float8_e4m3fn)):
    for m, n, k in ((1, 96, 1000), (3, 64, 300), (16, 40, 4480)):
        x = torch.randn(m, k, dtype=torch.bfloat16)
        if wdtype == torch.int8:
            w = torch.randint(-127, 128, (n, k), dtype=torch.int8)
        else:
            w = (torch.randn(n, k) * 50).clamp(-440, 440).to(wdtype)
        ws, bias = torch.rand(n) * 0.01, torch.randn(n, dtype=torch.bfloat16)
        xq, xs = quantize_activation(x, a_mode)
        ref = w8_linear_reference(xq, w, ws, xs, bias, torch.bfloat16).float()
        for split in (1, 3, 4):
            out = _launch_w8_gemv(xq, w, ws, xs, bias, torch.bfloat16, split_k=split).float()
            worst = max(worst, ((out - ref).norm() / ref.norm()).item())
print(worst)
"""


def test_split_k_gemv_matches_reference_in_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.strip().splitlines()[-1]) < 1e-2


def test_split_k_only_for_long_k_decode_shapes():
    from vlmq.engine.kernels.w8 import gemv_split_k

    assert gemv_split_k(1, 1536, 8960) > 1           # down_proj at decode
    assert gemv_split_k(1, 17920, 1536) == 1         # gate_up: enough programs along N
    assert gemv_split_k(64, 1536, 8960) == 1         # prefill rows go to cuBLAS
