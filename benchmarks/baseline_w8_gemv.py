"""The 8-bit decode GEMV vlmq shipped before issue 16 (src/vlmq/engine/kernels/w8.py at ed8f3bf), frozen
as the baseline ``bench_kernels.py`` compares the new kernels against. Not used by the package; a copy
of the old code so the baseline keeps running after the package moved on (16-row ``tl.dot`` tiles,
autotuned, split K finished by a second reduce kernel)."""

from __future__ import annotations

import functools
import os

import torch

GEMV_BLOCK_M = 16


def gemv_split_k(m: int, n: int, k: int) -> int:
    if m > GEMV_BLOCK_M or k < 4 * n:
        return 1
    return 4


def legacy_w8_gemv(x, qweight, wscale, xscale, bias, out_dtype, split_k: int | None = None):
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
    grid = lambda meta: (triton.cdiv(n, meta["BLOCK_N"]), triton.cdiv(m, meta["BLOCK_M"]), split_k)  # noqa: E731
    has_bias = bias is not None and split_k == 1
    kernel[grid](
        x_arg,
        w_arg,
        wscale,
        xscale if xscale is not None else wscale,
        bias if bias is not None else wscale,
        out,
        m,
        n,
        k,
        -(-k // (split_k * 64)) * 64,  # slices of 64s
        x.stride(0),
        qweight.stride(0),
        n,
        A_MODE=a_mode,
        W_FP8=w_fp8,
        X_FP8=x_fp8,
        HAS_BIAS=has_bias,
        SPLIT_K=split_k,
    )
    if split_k > 1:
        block = 1024
        _split_k_sum_kernel()[(triton.cdiv(m * n, block),)](
            out, bias if bias is not None else out, y, m * n, n, SPLIT_K=split_k, HAS_BIAS=bias is not None, BLOCK=block
        )
    return y


@functools.cache
def _split_k_sum_kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def split_k_sum(part_ptr, b_ptr, y_ptr, MN, N, SPLIT_K: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK: tl.constexpr):
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

    shapes = (
        ((64, 128, 64, 4, 4), (128, 128, 64, 8, 3), (64, 64, 128, 4, 4), (128, 64, 64, 4, 4))
        if large_m
        else (
            (16, 16, 256, 4, 4),
            (16, 32, 256, 4, 4),
            (16, 16, 512, 4, 3),
            (16, 32, 512, 8, 3),
            (16, 64, 256, 4, 4),
            (16, 64, 128, 4, 5),
            (16, 128, 128, 8, 4),
        )
    )
    configs = [
        triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s)
        for bm, bn, bk, w, s in shapes
    ]

    @triton.jit
    def kernel(
        x_ptr,
        w_ptr,
        ws_ptr,
        xs_ptr,
        b_ptr,
        y_ptr,
        M,
        N,
        K,
        K_PER_SPLIT,
        stride_xm,
        stride_wn,
        stride_ym,
        A_MODE: tl.constexpr,
        W_FP8: tl.constexpr,
        X_FP8: tl.constexpr,
        HAS_BIAS: tl.constexpr,
        SPLIT_K: tl.constexpr,
        BLOCK_M: tl.constexpr,
        BLOCK_N: tl.constexpr,
        BLOCK_K: tl.constexpr,
    ):
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
            x = tl.load(x_ptr + rm[:, None] * stride_xm + kk[None, :], mask=(rm[:, None] < M) & in_k[None, :], other=0)
            w = tl.load(w_ptr + rn[None, :] * stride_wn + kk[:, None], mask=(rn[None, :] < N) & in_k[:, None], other=0)
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
        y_ptr += pid_k * M * stride_ym  # split K: slice pid_k of the [SPLIT_K, M, N] partials
        tl.store(
            y_ptr + rm[:, None] * stride_ym + rn[None, :],
            out.to(y_ptr.dtype.element_ty),
            mask=(rm[:, None] < M) & (rn[None, :] < N),
        )

    key = ["N", "K", "A_MODE", "W_FP8", "SPLIT_K"]
    if os.environ.get("TRITON_INTERPRET") == "1":  # CPU interpreter (tests): one config, no benchmarking
        return triton.autotune(configs=configs[:1], key=key, do_bench=lambda *a, **k: 0.0)(kernel)
    return triton.autotune(configs=configs, key=key)(kernel)
