"""Triton's CPU interpreter made to compute as the GPU does, for the interpreter tests' subprocesses (imported by
their scripts; not a test module), and ``interpreter_run``, how those tests start them. Triton 3.8's interpreter
truncates fp32 → bf16, mis-rounds fp32 → fp8 where rounding carries into the exponent (the GPU rounds to nearest
even), multiplies bf16 dot operands as integers and rounds ``tl.fma`` twice (product, then sum);
``gpu_like_interpreter`` replaces those by torch's conversions, a float32 product and a fused multiply-add."""


def gpu_like_interpreter():
    """Make the interpreter round fp32 → bf16 / fp8e4nv to nearest even, as the GPU does, and multiply bf16
    dot operands as numbers (it multiplies their bit patterns); see the module doc."""
    import numpy as np
    import torch
    import triton.language as tl
    from triton.runtime import interpreter

    original = interpreter._convert_float
    targets = {
        tl.bfloat16: (torch.bfloat16, torch.int16, np.uint16),
        tl.float8e4nv: (torch.float8_e4m3fn, torch.uint8, np.uint8),
    }

    def convert(data, src, dst, rounding_mode):
        if src == tl.float32 and dst in targets and rounding_mode in (None, interpreter._ir.ROUNDING_MODE.RTNE):
            dtype, bits, np_bits = targets[dst]
            x = torch.from_numpy(np.ascontiguousarray(data).view(np.float32).copy())
            return x.to(dtype).view(bits).numpy().view(np_bits).reshape(data.shape)
        return original(data, src, dst, rounding_mode)

    original_dot = interpreter.InterpreterBuilder.create_dot

    def dot(self, a, b, d, input_precision, max_num_imprecise_acc):
        if a.dtype == tl.bfloat16:
            a, b = (
                interpreter.TensorHandle(original(x.data, tl.bfloat16, tl.float32, None).view(np.float32), tl.float32)
                for x in (a, b)
            )
        return original_dot(self, a, b, d, input_precision, max_num_imprecise_acc)

    original_fma = interpreter.InterpreterBuilder.create_fma

    def fma(self, x, y, z):
        if z.dtype.scalar != tl.float32:
            return original_fma(self, x, y, z)
        # one rounding, as the GPU's FFMA: the fp32 product is exact in fp64, the sum rounds once more only where
        # it needs more than 53 bits (then a double rounding may differ in the last bit: ~2^-29 of sums)
        exact = x.data.astype(np.float64) * y.data.astype(np.float64) + z.data.astype(np.float64)
        return interpreter.TensorHandle(exact.astype(np.float32), z.dtype.scalar)

    interpreter._convert_float = convert
    interpreter.InterpreterBuilder.create_dot = dot
    interpreter.InterpreterBuilder.create_fma = fma


def interpreter_run(script: str, timeout: int) -> dict:
    """Run an interpreter test's ``script`` (its own file) in a subprocess with TRITON_INTERPRET=1 (the interpreter
    must be chosen before Triton loads) and return the JSON its last line prints; the subprocess's failure fails the
    test with its stderr's tail."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "TRITON_INTERPRET": "1"}
    run = subprocess.run(
        [sys.executable, script], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])
