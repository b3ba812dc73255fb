"""Triton side of the prefill GEMM (``prefill.mixed_linear``): float activations x 8-bit or packed int4 weights
widened in registers, on the tensor cores, never written back as a float weight. Imported only where
a kernel runs (a GPU, or Triton's CPU interpreter in tests).

W8A8 runs here too (int8 x int8 on the tensor cores; the 7b's shapes at ~300 rows measured faster than the generic
tile and cuBLASLt's ``_int_mm``: docs/benchmarks.md, eleventh session).

One program owns a [BN weight rows, BM activation rows] output tile and walks K in BK steps, a software
pipeline of ``num_stages`` loads deep. The grid runs the M tiles of one weight tile next to each other, so a
weight tile is read from HBM once and the M tiles after the first find it in L2. ``SWAP`` puts the widened
weights on the MMA's left operand (wgmma takes it from registers; the activations go through shared memory), so
the widened tile is never stored to shared memory.

- int8 / e4m3 rows (per-row scale): the codes are exact in bf16, the scale multiplies the fp32 sums once in the
  epilogue (``w8.w8_linear_reference``'s arithmetic, up to the sums' order).
- int4 (``w4``'s layout, group-wise scale and optional zero): each weight is (q - z) * s rounded once to the
  activations' dtype, as ``w4.dequantize_int4`` rounds it, so the product is the dequantize-then-GEMM one up to
  the sums' order.
"""

import triton
import triton.language as tl

from vlmq.engine.kernels.gemv_triton import dequantized, int4_group


@triton.jit
def widened_tile(w, s_ptr, z_ptr, rn, k0, stride_sn, W_FMT: tl.constexpr, GROUP: tl.constexpr,
                 HAS_ZERO: tl.constexpr, BK: tl.constexpr, DT: tl.constexpr):  # fmt: skip
    """The [BN, BK] weights of one K tile in DT: 8-bit codes as they are (int8, or e4m3 from its uint8 bits), or
    int4 words [BN, BK // 8] as (q - z) * s of their group (BK <= GROUP, so one group a tile)."""
    if W_FMT == 3:
        # the group's (scale, 24 + zero) and the rounding of the generic kernel's int4 tiles, on codes 16 + v
        s, zc = int4_group(s_ptr, z_ptr, rn, rn >= 0, k0, stride_sn, GROUP, HAS_ZERO)
        shifts = tl.arange(0, 8) * 4
        v = tl.reshape((w[:, :, None] >> shifts[None, None, :]) & 0xF, (w.shape[0], BK))
        t = dequantized(v.to(tl.float32) + 16.0, s, zc, DT)
    elif W_FMT == 2:
        t = w.to(tl.float8e4nv, bitcast=True).to(DT)
    else:
        t = w.to(tl.float32).to(DT)  # exact; via fp32 (the interpreter's direct int8 -> bf16 cast is wrong)
    return t


@triton.jit
def mixed_gemm_kernel(
    x_ptr, xs_ptr, w_ptr, s_ptr, z_ptr, b_ptr, y_ptr, M, N, K, stride_xm, stride_wn, stride_sn, stride_ym,
    W_FMT: tl.constexpr, GROUP: tl.constexpr, HAS_ZERO: tl.constexpr, HAS_BIAS: tl.constexpr, BM: tl.constexpr,
    BN: tl.constexpr, BK: tl.constexpr, SWAP: tl.constexpr, TMA: tl.constexpr = False, x_desc=None, w_desc=None,
):  # fmt: skip
    """y [M, N] = x [M, K] @ widened(w) [N, K]^T (+ bias), K a multiple of BK (and of the int4 group). W8A8 (x
    int8 with int8 w, or e4m3 with e4m3): the codes multiply as stored (int8 sums in int32), scaled by w's and then
    x's row scales (``xs_ptr``) in fp32, as ``w8.w8_linear_reference`` orders them."""
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BM)
    pid_m = pid % num_m  # the M tiles of one weight tile run side by side: the weights leave HBM once
    pid_n = pid // num_m
    rm_out = pid_m * BM + tl.arange(0, BM)
    rn_out = pid_n * BN + tl.arange(0, BN)
    # rows past the end read a real row (no mask on the loads: they pipeline as plain async copies)
    rm = rm_out % M
    rn = rn_out % N
    rk = tl.arange(0, BK)
    DT: tl.constexpr = x_ptr.dtype.element_ty
    WK: tl.constexpr = BK // 8 if W_FMT == 3 else BK  # weight columns (int4: int32 words) a K tile
    x_ptrs = x_ptr + rm[:, None] * stride_xm + rk[None, :]
    w_ptrs = w_ptr + rn[:, None] * stride_wn + tl.arange(0, WK)[None, :]
    X_INT8: tl.constexpr = DT == tl.int8
    X_QUANT: tl.constexpr = X_INT8 or DT == tl.float8e4nv  # W8A8: the weights multiply as they are stored
    ACC_DT: tl.constexpr = tl.int32 if X_INT8 else tl.float32
    PRECISION: tl.constexpr = "ieee" if DT == tl.float32 else None  # fp32 rows (tests): no TF32 rounding
    if SWAP:
        acc = tl.zeros((BN, BM), dtype=ACC_DT)
    else:
        acc = tl.zeros((BM, BN), dtype=ACC_DT)
    for k0 in range(0, K, BK):
        if TMA:  # the tensor memory accelerator: one bulk copy a tile, rows past the end read as zeros
            x = x_desc.load([pid_m * BM, k0])
            w = w_desc.load([pid_n * BN, (k0 // BK) * WK])
        else:
            x = tl.load(x_ptrs)
            w = tl.load(w_ptrs)
        if X_QUANT:
            w = w.to(DT, bitcast=True)  # int8 as it is; e4m3 from its uint8 bits
        else:
            w = widened_tile(w, s_ptr, z_ptr, rn, k0, stride_sn, W_FMT, GROUP, HAS_ZERO, BK, DT)
        if SWAP:
            acc = tl.dot(w, tl.trans(x), acc, input_precision=PRECISION, out_dtype=ACC_DT)
        else:
            acc = tl.dot(x, tl.trans(w), acc, input_precision=PRECISION, out_dtype=ACC_DT)
        x_ptrs += BK
        w_ptrs += WK
    if SWAP:
        acc = tl.trans(acc)
    acc = acc.to(tl.float32)
    if W_FMT != 3:
        acc = acc * tl.load(s_ptr + rn).to(tl.float32)[None, :]
    if X_QUANT:
        acc = acc * tl.load(xs_ptr + rm).to(tl.float32)[:, None]
    if HAS_BIAS:
        acc = acc + tl.load(b_ptr + rn).to(tl.float32)[None, :]
    mask = (rm_out < M)[:, None] & (rn_out < N)[None, :]
    tl.store(y_ptr + rm_out[:, None] * stride_ym + rn_out[None, :], acc.to(y_ptr.dtype.element_ty), mask=mask)
