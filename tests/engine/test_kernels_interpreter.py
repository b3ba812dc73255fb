"""vlmq's Triton kernels against their references on a CPU, through Triton's interpreter (TRITON_INTERPRET=1).

The cases run in one subprocess (the interpreter must be chosen before Triton loads); this file is that
subprocess's script too. Shapes are small and deliberately ragged: M not a multiple of the row tile, N
not a multiple of the program's rows, K not a multiple of the K tile; group 64 and 128, asymmetric and
symmetric int4; split K on and off; every activation mode (float, int8 / FP8 given, int8 / FP8
quantized in the kernel) and every fusion (RMSNorm prologue, SiLU·mul and residual epilogues).
Activations are fp32 where the dot kernel runs, since Triton 3.8's interpreter mis-computes bf16
``tl.dot``. Skipped where Triton is not installed (.ci/run installs it).
"""

import json
import os
import subprocess
import sys

import pytest

# (name, format, M, N, K, a_mode, kernel, options); options: split, norm, act, resid, group, zero, pre, vec,
# dtype, row_scale, smooth
CASES = [
    ("sum/bf16", "float", 1, 40, 300, "bf16", "sum", dict(dtype="bf16")),
    ("sum/f32 split", "float", 1, 40, 600, "bf16", "sum", dict(split=2)),
    ("sum/f32 row scales", "float", 2, 24, 256, "bf16", "sum", dict(row_scale=True)),
    ("sum/f32 M3 norm act resid", "float", 3, 40, 300, "bf16", "sum", dict(norm=True, act=True, resid=True, split=2)),
    ("sum/int8 w8a16 split", "int8", 1, 48, 520, "bf16", "sum", dict(split=2)),
    ("sum/int8 w8a8 in-kernel norm resid", "int8", 2, 48, 520, "int8", "sum", dict(norm=True, resid=True)),
    ("sum/int8 w8a8 given", "int8", 2, 24, 256, "int8", "sum", dict(pre=True)),
    ("sum/int8 w8a8 norm + smoothing", "int8", 1, 24, 256, "int8", "sum", dict(norm=True, smooth=True)),
    ("sum/fp8 w8a8 smoothing only resid", "fp8", 2, 24, 256, "fp8", "sum", dict(smooth=True, resid=True)),
    ("sum/fp8 w8a16 act", "fp8", 1, 48, 520, "bf16", "sum", dict(act=True)),
    ("sum/fp8 w8a8 in-kernel norm act split", "fp8", 3, 48, 520, "fp8", "sum", dict(norm=True, act=True, split=2)),
    ("sum/fp8 w8a8 given", "fp8", 1, 24, 256, "fp8", "sum", dict(pre=True)),
    ("sum/int4 g128 asym split vec2", "int4", 1, 40, 1024, "bf16", "sum", dict(group=128, split=2, vec=2)),
    ("sum/int4 g64 sym M3 norm act resid", "int4", 3, 40, 256, "bf16", "sum",
     dict(group=64, zero=False, norm=True, act=True, resid=True, vec=1)),
    ("sum/int4 g64 asym vec4", "int4", 2, 24, 512, "bf16", "sum", dict(group=64, vec=4)),
    ("dot/f32 M5 norm act resid split", "float", 5, 40, 300, "bf16", "dot",
     dict(norm=True, act=True, resid=True, split=2)),
    ("dot/int8 w8a16 M17", "int8", 17, 48, 520, "bf16", "dot", dict()),
    ("dot/f32 row scales M6", "float", 6, 24, 256, "bf16", "dot", dict(row_scale=True)),
    ("dot/int8 w8a8 in-kernel norm M6 split", "int8", 6, 48, 520, "int8", "dot", dict(norm=True, split=2)),
    ("dot/int8 w8a8 given M20", "int8", 20, 24, 256, "int8", "dot", dict(pre=True)),
    ("dot/fp8 w8a8 in-kernel M7 act", "fp8", 7, 48, 520, "fp8", "dot", dict(act=True)),
    ("dot/fp8 w8a8 given M9 split", "fp8", 9, 24, 256, "fp8", "dot", dict(pre=True, split=2)),
    ("dot/int8 w8a8 smoothing only M6", "int8", 6, 24, 256, "int8", "dot", dict(smooth=True)),
    ("dot/int4 g64 asym M9 split", "int4", 9, 40, 512, "bf16", "dot", dict(group=64, split=2)),
    ("dot/int4 g128 sym M33 act resid", "int4", 33, 40, 256, "bf16", "dot",
     dict(group=128, zero=False, act=True, resid=True)),
    ("prefill-triton/int4 g128 M70", "int4", 70, 24, 256, "bf16", "prefill", dict(group=128)),
    ("prefill-triton/int8 w8a8 M70", "int8", 70, 24, 256, "int8", "prefill", dict(pre=True)),
]
# in-kernel quantization may round a value the other way than the reference's separately normalized row
TOLERANCE = {"quantized in kernel": 5e-3, "bf16": 1e-2, "exact": 1e-4}


def _tolerance(a_mode, opts):
    if opts.get("dtype") == "bf16":
        return TOLERANCE["bf16"]
    if a_mode != "bf16" and not opts.get("pre"):
        return TOLERANCE["quantized in kernel"]
    return TOLERANCE["exact"]


def _run_case(fmt, m, n, k, a_mode, kernel, opts):
    import torch

    from vlmq.engine.kernels import fused_linear_reference, pack_int4, quantize_activation
    from vlmq.engine.kernels.gemv import ACT_SILU_MUL, ACT_NONE, dot_config, gemv, sum_config, weight_format
    from vlmq.engine.kernels.fused import A_MODE_CODES
    from vlmq.engine.kernels.prefill import prefill_linear

    dt = torch.bfloat16 if opts.get("dtype") == "bf16" else torch.float32
    group = opts.get("group", 0)
    x = torch.randn(m, k, dtype=dt)
    norm = (torch.rand(k) + 0.5).to(dt) if opts.get("norm") else None
    pre = (torch.rand(k) + 0.5).to(dt) if opts.get("smooth") else None      # SmoothQuant's activation pre-scale
    bias = torch.randn(n, dtype=dt)
    scale = zero = None
    if fmt == "float":
        w = (torch.randn(n, k) * 0.05).to(dt)
        scale = torch.rand(n) + 0.5 if opts.get("row_scale") else None
    elif fmt == "int8":
        w, scale = torch.randint(-128, 128, (n, k), dtype=torch.int8), torch.rand(n) * 0.01
    elif fmt == "fp8":
        w, scale = (torch.randn(n, k) * 50).clamp(-440, 440).to(torch.float8_e4m3fn), torch.rand(n) * 0.01
    else:
        w = pack_int4(torch.randint(-8, 8, (n, k), dtype=torch.int8))
        scale = (torch.rand(n, k // group) * 0.02).to(dt)
        zero = torch.randint(-8, 8, (n, k // group), dtype=torch.int8) if opts.get("zero", True) else None
    act = "silu_mul" if opts.get("act") else "none"
    n_out = n // 2 if opts.get("act") else n
    resid = torch.randn(m, n_out, dtype=dt) if opts.get("resid") else None
    x_in, x_scale = (quantize_activation(x, a_mode) if opts.get("pre") else (x, None))
    ref = fused_linear_reference(x_in, w, scale, zero, group, bias, x_scale, a_mode, norm, 1e-6, pre, act, resid,
                                 torch.float32)
    if kernel == "prefill":
        out = prefill_linear(x_in, w, scale, zero, group, bias, x_scale, torch.float32, path="triton")
    else:
        wf = weight_format(w)
        cfg = (sum_config(wf, m, n, k, split=opts.get("split", 1), vec=opts.get("vec", 2)) if kernel == "sum"
               else dot_config(wf, m, n, k, group, split=opts.get("split", 1)))
        kwargs = dict(x_scale=x_scale, a_mode=A_MODE_CODES[a_mode], norm_weight=norm, eps=1e-6, pre_scale=pre,
                      act=ACT_SILU_MUL if opts.get("act") else ACT_NONE, residual=resid, out_dtype=torch.float32)
        out = gemv(x_in, w, scale, zero, group, bias, config=cfg, **kwargs)
        if cfg.split_k > 1:        # the last slice reset the semaphores: a second launch gives the same result
            again = gemv(x_in, w, scale, zero, group, bias, config=cfg, **kwargs)
            assert torch.equal(out, again), "split-K result changed on a second launch"
    assert out.shape == ref.shape and torch.isfinite(out).all()
    return ((out.float() - ref.float()).norm() / ref.float().norm()).item()


def _run_extras():
    """Exact checks: the int4 dequantize kernel against w4's reference, bit for bit, in fp32 (the interpreter
    truncates fp32 → bf16 casts where GPUs round to nearest; the GPU test checks bf16)."""
    import torch

    from vlmq.engine.kernels import dequantize_int4, pack_int4
    from vlmq.engine.kernels.prefill import dequantize_int4_cuda

    errors = {}
    for group, zero in ((64, True), (128, False)):
        packed = pack_int4(torch.randint(-8, 8, (40, 256), dtype=torch.int8))
        scale = torch.rand(40, 256 // group, dtype=torch.bfloat16)
        zp = torch.randint(-8, 8, (40, 256 // group), dtype=torch.int8) if zero else None
        got = dequantize_int4_cuda(packed, scale, zp, group, torch.float32)
        ref = dequantize_int4(packed, scale, zp, group, torch.float32)
        errors[f"dequant-int4 g{group}"] = float((got - ref).abs().max())
    return errors


def main():
    import torch

    torch.manual_seed(0)
    errors = {name: _run_case(*case) for name, *case in CASES}
    errors.update(_run_extras())
    print(json.dumps(errors))


@pytest.fixture(scope="module")
def interpreter_errors():
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    run = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_every_kernel_case_matches_its_reference(interpreter_errors):
    bad = {name: interpreter_errors[name] for name, fmt, m, n, k, a_mode, kernel, opts in CASES
           if not interpreter_errors[name] < _tolerance(a_mode, opts)}
    assert not bad, f"relative error above tolerance: {bad}"


def test_int4_dequantize_kernel_is_bit_exact(interpreter_errors):
    assert interpreter_errors["dequant-int4 g64"] == 0.0
    assert interpreter_errors["dequant-int4 g128"] == 0.0


if __name__ == "__main__":
    main()
