"""Triton kernels for decode: a GEMV over 8-bit weights that dequantizes in registers.

Why: torchao's weight-only int8 path is ``mm(x, w.to(bf16)) * scale`` and its W8A8 paths quantize the
activation in separate kernels; at decode batch sizes both lose to BF16 (measured on the H100,
docs/benchmarks.md). This kernel streams int8/FP8 weights once, converts them in registers and runs
the matrix instructions on a 16-row tile (rows past M are masked), so it stays memory-bound:

- ``a_mode="bf16"`` (W8A16: int8_wo, FP8 weight-only): bf16 activations x weights converted to bf16;
- ``a_mode="int8"`` (W8A8, SmoothQuant): int8 x int8 → int32, scaled by activation and weight scales;
- ``a_mode="fp8"``  (FP8 W8A8): e4m3 x e4m3 → fp32, scaled likewise.

Activation quantization (per token) happens in ``quantize_activation`` with torchao's arithmetic,
so the result matches torchao's own kernels up to accumulation order.
The op is registered as ``vlmq::w8_linear`` (opaque to Inductor, capturable in CUDA graphs); a pure
torch reference of the same arithmetic runs everywhere else and in tests.
"""

from __future__ import annotations

import functools
import os

import torch

A_MODES = {"bf16": 0, "int8": 1, "fp8": 2}
FP8_MAX = 448.0
GEMV_BLOCK_M = 16


def quantize_activation(x: torch.Tensor, a_mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token symmetric quantization of [M, K] activations, as torchao does it.

    int8: scale = amax / 127.5 (clamped at fp32 eps), q = clamp(round(x * (1 / scale)), -128, 127);
    fp8:  scale = amax / 448 (clamped at 1e-12), q = clamp(x / scale, ±448) in e4m3.
    """
    if a_mode == "bf16":
        return x, None
    amax = x.abs().amax(dim=-1, keepdim=True).float()
    if a_mode == "int8":
        scale = (amax / 127.5).clamp_min(torch.finfo(torch.float32).eps)
        q = torch.clamp(torch.round(x.float() * (1.0 / scale)), -128, 127).to(torch.int8)
        return q, scale.squeeze(-1)
    scale = (amax / FP8_MAX).clamp_min(1e-12)
    q = (x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return q, scale.squeeze(-1)


def w8_linear_reference(x: torch.Tensor, qweight: torch.Tensor, wscale: torch.Tensor,
                        xscale: torch.Tensor | None, bias: torch.Tensor | None, out_dtype: torch.dtype) -> torch.Tensor:
    """y[M, N] = (x @ q^T) * wscale (* xscale) + bias in float32 (the kernel's arithmetic, unfused)."""
    y = (x.float() @ qweight.float().t()) * wscale.float().view(1, -1)
    if xscale is not None:
        y = y * xscale.float().view(-1, 1)
    if bias is not None:
        y = y + bias.float()
    return y.to(out_dtype)


@torch.library.custom_op("vlmq::w8_linear", mutates_args=())
def w8_linear(x: torch.Tensor, qweight: torch.Tensor, wscale: torch.Tensor, xscale: torch.Tensor | None,
              bias: torch.Tensor | None, out_dtype: torch.dtype) -> torch.Tensor:
    """[M, K] activations (bf16, or int8/e4m3 with per-row ``xscale``) x [N, K] 8-bit weights → [M, N]."""
    if x.device.type != "cuda":
        return w8_linear_reference(x, qweight, wscale, xscale, bias, out_dtype)
    return _launch_w8_gemv(x, qweight, wscale, xscale, bias, out_dtype)


@w8_linear.register_fake
def _(x, qweight, wscale, xscale, bias, out_dtype):
    return x.new_empty((x.shape[0], qweight.shape[0]), dtype=out_dtype)


def _launch_w8_gemv(x, qweight, wscale, xscale, bias, out_dtype):
    import triton

    kernel = _w8_gemv_kernel()
    m, k = x.shape
    n = qweight.shape[0]
    x = x.contiguous()
    y = torch.empty((m, n), dtype=out_dtype, device=x.device)
    a_mode = 0 if xscale is None else (1 if x.dtype == torch.int8 else 2)
    grid = lambda meta: (triton.cdiv(n, meta["BLOCK_N"]), triton.cdiv(m, GEMV_BLOCK_M))   # noqa: E731
    kernel[grid](x, qweight, wscale, xscale if xscale is not None else wscale, bias if bias is not None else wscale,
                 y, m, n, k, x.stride(0), qweight.stride(0), y.stride(0),
                 A_MODE=a_mode, HAS_BIAS=bias is not None, BLOCK_M=GEMV_BLOCK_M)
    return y


@functools.cache
def _w8_gemv_kernel():
    """Build (once) the autotuned Triton kernel; Triton is imported only where a GPU runs it."""
    import triton
    import triton.language as tl

    configs = [triton.Config({"BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s)
               for bn, bk, w, s in ((16, 256, 4, 4), (32, 256, 4, 4), (16, 512, 4, 3), (32, 512, 8, 3),
                                    (64, 256, 4, 4), (64, 128, 4, 5), (128, 128, 8, 4))]

    @triton.jit
    def kernel(x_ptr, w_ptr, ws_ptr, xs_ptr, b_ptr, y_ptr, M, N, K, stride_xm, stride_wn, stride_ym,
               A_MODE: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
               BLOCK_K: tl.constexpr):
        pid_n = tl.program_id(0)
        pid_m = tl.program_id(1)
        rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        rk = tl.arange(0, BLOCK_K)
        if A_MODE == 1:
            acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
        else:
            acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, K, BLOCK_K):
            kk = k0 + rk
            x = tl.load(x_ptr + rm[:, None] * stride_xm + kk[None, :],
                        mask=(rm[:, None] < M) & (kk[None, :] < K), other=0)
            w = tl.load(w_ptr + rn[None, :] * stride_wn + kk[:, None],
                        mask=(rn[None, :] < N) & (kk[:, None] < K), other=0)
            if A_MODE == 0:
                acc += tl.dot(x, w.to(x.dtype))
            else:
                acc += tl.dot(x, w)
        out = acc.to(tl.float32) * tl.load(ws_ptr + rn, mask=rn < N, other=0).to(tl.float32)[None, :]
        if A_MODE != 0:
            out = out * tl.load(xs_ptr + rm, mask=rm < M, other=0).to(tl.float32)[:, None]
        if HAS_BIAS:
            out = out + tl.load(b_ptr + rn, mask=rn < N, other=0).to(tl.float32)[None, :]
        tl.store(y_ptr + rm[:, None] * stride_ym + rn[None, :], out.to(y_ptr.dtype.element_ty),
                 mask=(rm[:, None] < M) & (rn[None, :] < N))

    if os.environ.get("TRITON_INTERPRET") == "1":   # CPU interpreter (tests): one config, no benchmarking
        return triton.autotune(configs=configs[:1], key=["N", "K", "A_MODE"], do_bench=lambda *a, **k: 0.0)(kernel)
    return triton.autotune(configs=configs, key=["N", "K", "A_MODE"])(kernel)
