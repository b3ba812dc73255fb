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
    if x.shape[0] > GEMV_BLOCK_M:
        return w8_linear_dequant_mm(x, qweight, wscale, xscale, bias, out_dtype)
    return _launch_w8_gemv(x, qweight, wscale, xscale, bias, out_dtype)


def w8_linear_dequant_mm(x: torch.Tensor, qweight: torch.Tensor, wscale: torch.Tensor, xscale: torch.Tensor | None,
                         bias: torch.Tensor | None, out_dtype: torch.dtype) -> torch.Tensor:
    """Large M (prefill, big decode batches): widen the 8-bit values to bf16 and let cuBLAS multiply.

    int8 and e4m3 values are exact in bf16 and the GEMM accumulates in fp32, so this is the same
    arithmetic as the int8/FP8 MMA path up to the bf16 rounding of the unscaled product. The Triton
    GEMM tiles re-read the weight every 64-128 rows (40 ms prefill at 286 tokens on the H100, against
    12 ms for BF16 through cuBLAS); widening costs one pass over the weight instead.
    """
    compute = torch.bfloat16
    y = (x.to(compute) @ qweight.to(compute).t()).float() * wscale.float().view(1, -1)
    if xscale is not None:
        y = y * xscale.float().view(-1, 1)
    if bias is not None:
        y = y + bias.float()
    return y.to(out_dtype)


@w8_linear.register_fake
def _(x, qweight, wscale, xscale, bias, out_dtype):
    return x.new_empty((x.shape[0], qweight.shape[0]), dtype=out_dtype)


def gemv_split_k(m: int, n: int, k: int) -> int:
    """K slices a decode GEMV runs in parallel. Few output rows over a long K (down_proj: N=1536, K=8960)
    give too few programs to keep HBM busy: without splits the 8-bit down_proj ran at 0.9 TB/s on the
    H100, against 2.4 TB/s for gate_up (docs/benchmarks.md)."""
    if m > GEMV_BLOCK_M or k < 4 * n:
        return 1
    return 4


def _launch_w8_gemv(x, qweight, wscale, xscale, bias, out_dtype, split_k: int | None = None):
    import triton

    m, k = x.shape
    n = qweight.shape[0]
    split_k = gemv_split_k(m, n, k) if split_k is None else split_k
    kernel = _w8_gemv_kernel(large_m=m > GEMV_BLOCK_M)
    x = x.contiguous()
    y = torch.empty((m, n), dtype=out_dtype, device=x.device)
    # split K: each slice writes scaled fp32 partial sums, a second kernel adds them (+ bias) and casts
    out = y if split_k == 1 else torch.empty((split_k, m, n), dtype=torch.float32, device=x.device)
    a_mode = 0 if xscale is None else (1 if x.dtype == torch.int8 else 2)
    # FP8 travels as uint8 and is bitcast in the kernel (Triton cannot fill masked FP8 lanes with 0)
    w_fp8, x_fp8 = qweight.dtype == torch.float8_e4m3fn, x.dtype == torch.float8_e4m3fn
    w_arg = qweight.view(torch.uint8) if w_fp8 else qweight
    x_arg = x.view(torch.uint8) if x_fp8 else x
    grid = lambda meta: (triton.cdiv(n, meta["BLOCK_N"]), triton.cdiv(m, meta["BLOCK_M"]), split_k)   # noqa: E731
    has_bias = bias is not None and split_k == 1
    kernel[grid](x_arg, w_arg, wscale, xscale if xscale is not None else wscale,
                 bias if bias is not None else wscale, out, m, n, k, -(-k // (split_k * 64)) * 64,   # slices of 64s
                 x.stride(0), qweight.stride(0), n,
                 A_MODE=a_mode, W_FP8=w_fp8, X_FP8=x_fp8, HAS_BIAS=has_bias, SPLIT_K=split_k)
    if split_k > 1:
        block = 1024
        _split_k_sum_kernel()[(triton.cdiv(m * n, block),)](
            out, bias if bias is not None else out, y, m * n, n, SPLIT_K=split_k, HAS_BIAS=bias is not None,
            BLOCK=block)
    return y


@functools.cache
def _split_k_sum_kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def split_k_sum(part_ptr, b_ptr, y_ptr, MN, N, SPLIT_K: tl.constexpr, HAS_BIAS: tl.constexpr,
                    BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        inb = offs < MN
        acc = tl.zeros((BLOCK,), dtype=tl.float32)
        for s in range(SPLIT_K):
            acc += tl.load(part_ptr + s * MN + offs, mask=inb, other=0)
        if HAS_BIAS:
            acc += tl.load(b_ptr + offs % N, mask=inb, other=0).to(tl.float32)
        tl.store(y_ptr + offs, acc.to(y_ptr.dtype.element_ty), mask=inb)

    return split_k_sum


@functools.cache
def _w8_gemv_kernel(large_m: bool):
    """Build (once) the autotuned Triton kernel; Triton is imported only where a GPU runs it.

    Small M (decode): 16-row tiles, many programs along N, the weight streamed once. Large M (prefill,
    big batches): GEMM tiles, the weight read M / BLOCK_M times.
    """
    import triton
    import triton.language as tl

    shapes = ((64, 128, 64, 4, 4), (128, 128, 64, 8, 3), (64, 64, 128, 4, 4), (128, 64, 64, 4, 4)) if large_m else \
        ((16, 16, 256, 4, 4), (16, 32, 256, 4, 4), (16, 16, 512, 4, 3), (16, 32, 512, 8, 3),
         (16, 64, 256, 4, 4), (16, 64, 128, 4, 5), (16, 128, 128, 8, 4))
    configs = [triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s)
               for bm, bn, bk, w, s in shapes]

    @triton.jit
    def kernel(x_ptr, w_ptr, ws_ptr, xs_ptr, b_ptr, y_ptr, M, N, K, K_PER_SPLIT, stride_xm, stride_wn, stride_ym,
               A_MODE: tl.constexpr, W_FP8: tl.constexpr, X_FP8: tl.constexpr, HAS_BIAS: tl.constexpr,
               SPLIT_K: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        pid_n = tl.program_id(0)
        pid_m = tl.program_id(1)
        pid_k = tl.program_id(2)
        rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        rk = tl.arange(0, BLOCK_K)
        if A_MODE == 1:
            acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
        else:
            acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, K_PER_SPLIT, BLOCK_K):
            kk = pid_k * K_PER_SPLIT + k0 + rk
            in_k = (kk < K) & (k0 + rk < K_PER_SPLIT)
            x = tl.load(x_ptr + rm[:, None] * stride_xm + kk[None, :],
                        mask=(rm[:, None] < M) & in_k[None, :], other=0)
            w = tl.load(w_ptr + rn[None, :] * stride_wn + kk[:, None],
                        mask=(rn[None, :] < N) & in_k[:, None], other=0)
            if X_FP8:
                x = x.to(tl.float8e4nv, bitcast=True)
            if W_FP8:
                w = w.to(tl.float8e4nv, bitcast=True)
            if A_MODE == 0:
                acc += tl.dot(x, w.to(x.dtype))
            else:
                acc += tl.dot(x, w)
        out = acc.to(tl.float32) * tl.load(ws_ptr + rn, mask=rn < N, other=0).to(tl.float32)[None, :]
        if A_MODE != 0:
            out = out * tl.load(xs_ptr + rm, mask=rm < M, other=0).to(tl.float32)[:, None]
        if HAS_BIAS:
            out = out + tl.load(b_ptr + rn, mask=rn < N, other=0).to(tl.float32)[None, :]
        y_ptr += pid_k * M * stride_ym            # split K: slice pid_k of the [SPLIT_K, M, N] partials
        tl.store(y_ptr + rm[:, None] * stride_ym + rn[None, :], out.to(y_ptr.dtype.element_ty),
                 mask=(rm[:, None] < M) & (rn[None, :] < N))

    key = ["N", "K", "A_MODE", "W_FP8", "SPLIT_K"]
    if os.environ.get("TRITON_INTERPRET") == "1":   # CPU interpreter (tests): one config, no benchmarking
        return triton.autotune(configs=configs[:1], key=key, do_bench=lambda *a, **k: 0.0)(kernel)
    return triton.autotune(configs=configs, key=key)(kernel)
