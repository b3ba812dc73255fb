"""The Triton kernels behind ``vlmq.engine.kernels.gemv`` (imported only where a kernel runs: Triton is
optional on CPU machines). The design, and why, is in gemv.py's docstring; layout notes here.

Register layouts (checked in the sm_90 SASS that Triton 3.6 emits offline): the CUDA-core kernel keeps
its tiles K-major, ``[K, rows]``, so a warp's 32 lanes run along K and every lane holds all of its
program's rows. Each lane's activation vector (8 consecutive values, one 16-byte load) then sits in
exactly the registers the weights of those columns need: no shared-memory shuffle or barrier inside
the K loop, and one activation load and conversion serves ``BN`` weight rows. The activation tile of
one iteration must hold 8 values per lane, which fixes ``BK`` to ``256 * num_warps`` columns (int4:
``256 * VEC * num_warps``, with ``VEC`` words of weights per lane).
"""

import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from vlmq.engine.kernels.eager_triton import exact_quotient, scalar_quotient
from vlmq.engine.kernels.partials_triton import attention_output
from vlmq.engine.kernels.pdl import PDL_EARLY as EARLY_TRIGGER
from vlmq.engine.kernels.pdl import PDL_LATE as LATE_TRIGGER
from vlmq.numerics import FP8_MAX, MIN_SCALE

FP8_LIMIT = tl.constexpr(FP8_MAX)
FP8_SCALE_FLOOR = tl.constexpr(MIN_SCALE)
INT8_RANGE = tl.constexpr(127.5)  # torchao's per-token int8 scale: amax / 127.5
FP32_EPS = tl.constexpr(1.1920928955078125e-07)  # its floor
LOW_PLANE_EXPONENT = tl.constexpr(4 << 23)  # 16.0 -> 256.0: nibble_pair's lower plane
LOW_PLANE_EXCESS = tl.constexpr(240.0)  # 256 + v - (16 + v)

# the ``PDL`` constexpr of vlmq's kernels (pdl.launch_pdl): 0 off; else where a program lets the next kernel launch
# (griddepcontrol.launch_dependents): after its sums (late) or as it starts (early). Either way the next kernel
# reads this one's output only after griddepcontrol.wait, which waits for this whole grid to finish.
PDL_LATE: tl.constexpr = tl.constexpr(LATE_TRIGGER)
PDL_EARLY: tl.constexpr = tl.constexpr(EARLY_TRIGGER)


@triton.jit
def nibble_plane(w, J: tl.constexpr, one_bits):
    """Nibble J of every int32 word as the float 16 + v: the nibble moved into mantissa bits 19-22 of 16.0
    (one shift and one and-or; ``one_bits`` = bits of 16.0 arrives as a runtime register so that the
    and-or is a single LOP3). No int->float conversion, which Hopper runs at a quarter of the rate."""
    if J * 4 <= 19:
        t = w << (19 - 4 * J)
    else:
        t = w >> (4 * J - 19)
    return ((t & 0x780000) | one_bits).to(tl.float32, bitcast=True)


@triton.jit
def nibble_pair(w, J: tl.constexpr, one_bits):
    """Nibbles J + 1 and J (J even) of every int32 word from one shift: nibble J + 1 at mantissa bits 19-22 of 16.0
    gives 16 + v (``nibble_plane``), nibble J, four bits below it, at bits 15-18 of 256.0 gives 256 + v (exact too;
    the product with x rounds 2^-16 of |x|, far below bf16's 2^-9). Four shifts a word instead of eight: the
    CUDA-core int4 GEMV issues one shift or LOP3 per nibble and one FFMA, and the shifts are half its integer
    work (sm_90 SASS, 7b gate_up tile: 259 shifts, 257 LOP3, 272 FFMA an iteration)."""
    if 4 * J <= 15:
        t = w << (15 - 4 * J)
    else:
        t = w >> (4 * J - 15)
    hi = ((t & 0x780000) | one_bits).to(tl.float32, bitcast=True)
    lo = ((t & 0x78000) | (one_bits + LOW_PLANE_EXPONENT)).to(tl.float32, bitcast=True)
    return hi, lo


@triton.jit
def rms_multiplier(x_ptr, rm, M, K, stride_xm, eps, inv_k, BKS: tl.constexpr):
    """For rows ``rm``: Qwen2RMSNorm's multiplier rsqrt(mean(x^2) + eps) in fp32, the mean as sum * (1 / K)
    and rsqrt the hardware's, as PyTorch's CUDA kernels compute them (the sum's order differs: one ulp, now
    and then). One pass over the row, ``BKS`` columns at a time."""
    ssq = tl.zeros(rm.shape, dtype=tl.float32)
    for k0 in range(0, K, BKS):
        rk = k0 + tl.arange(0, BKS)
        x = tl.load(
            x_ptr + rm[:, None] * stride_xm + rk[None, :], mask=(rm[:, None] < M) & (rk[None, :] < K), other=0
        ).to(tl.float32)
        ssq += tl.sum(x * x, axis=1)
    return tl.math.rsqrt(ssq * inv_k + eps)


@triton.jit
def rms_normalized(x, r, g, X_DT: tl.constexpr, G_DT: tl.constexpr):
    """fp32 values x (of dtype X_DT) through Qwen2RMSNorm: x * r rounded to X_DT, times the weight g (of G_DT),
    rounded to the product's dtype (X_DT when G_DT is X_DT, else fp32: torch's type promotion)."""
    h = (x * r).to(X_DT).to(tl.float32)
    v = g * h
    if G_DT == X_DT:
        v = v.to(X_DT).to(tl.float32)
    return v


@triton.jit
def load_x(
    xsrc, m, cols, rowp, NORM: tl.constexpr, SMOOTH: tl.constexpr, X_PRE: tl.constexpr, A_MODE: tl.constexpr,
    XPART: tl.constexpr, X_EVEN: tl.constexpr = False,
):  # fmt: skip
    """Activations of row m at columns ``cols`` (broadcastable index tensors) as the fp32 values the kernel
    multiplies: the int8 / e4m3 values of a row quantized before the launch (``X_PRE``), or float x through
    the row prologue -- RMSNorm (``NORM``), SmoothQuant's pre-scale (``SMOOTH``) and, for W8A8 (``A_MODE``),
    the per-token quantization with the row's (rms multiplier, scale, 1 / scale) ``rowp`` (``row_prologue``).
    ``XPART`` (> 0: the most splits a head has): x is the decode attention's output, combined here from its
    partials (``partials_triton.attention_output``) and rounded to x's dtype as the attention would store it.
    ``xsrc``: (x, norm weight, pre-scale pointers, M, K, x's row stride, then the partials' ``xpart``). Also the
    squares of x as loaded (fp32): a deferred RMSNorm's statistics (``NORM`` 2; unused, and so not computed, else).
    ``X_EVEN``: row m and every column are in range (one row, whole K tiles), so the loads go unmasked."""
    x_ptr, g_ptr, p_ptr, M, K, stride_xm = xsrc[0], xsrc[1], xsrc[2], xsrc[3], xsrc[4], xsrc[5]
    if XPART:
        xpart = (xsrc[6], xsrc[7], xsrc[8], xsrc[9], xsrc[10], xsrc[11], xsrc[12], xsrc[13], xsrc[14])
        x = attention_output(xpart, m, cols, (m < M) & (cols < K), XPART).to(x_ptr.dtype.element_ty)
    elif X_EVEN:
        x = tl.load(x_ptr + m * stride_xm + cols)
    else:
        x = tl.load(x_ptr + m * stride_xm + cols, mask=(m < M) & (cols < K), other=0)
    if X_PRE:
        if A_MODE == 2:
            x = x.to(tl.float8e4nv, bitcast=True)
        v = x.to(tl.float32)
    else:
        v = row_values(x.to(tl.float32), x_ptr.dtype.element_ty, g_ptr, p_ptr, cols, K, rowp[0], NORM, SMOOTH, X_EVEN)
        if A_MODE != 0:
            v = quantized(v, rowp[1], rowp[2], A_MODE)
    xf = x.to(tl.float32)
    return v, xf * xf


@triton.jit
def load_in_range(ptrs, mask, EVEN: tl.constexpr):
    """``ptrs``' values, 0 where ``mask`` is false; ``EVEN``: every one is in range, so the load goes unmasked (no
    zero fill and predicate a load: ``gemv``'s ``$VLMQ_GEMV_UNMASKED``)."""
    if EVEN:
        return tl.load(ptrs)
    return tl.load(ptrs, mask=mask, other=0)


@triton.jit
def load_f32(src, cols, K, EVEN: tl.constexpr = False):
    return load_in_range(src + cols, cols < K, EVEN).to(tl.float32)


@triton.jit
def row_values(
    x,
    X_DT: tl.constexpr,
    g_ptr,
    p_ptr,
    cols,
    K,
    r,
    NORM: tl.constexpr,
    SMOOTH: tl.constexpr,
    EVEN: tl.constexpr = False,
):
    """Values x (fp32 holding X_DT values) at columns ``cols`` of a row through the RMSNorm (``NORM``) and
    SmoothQuant's pre-scale (``SMOOTH``), each product rounded to the dtype eager PyTorch gives it. ``NORM`` 2 (the
    RMSNorm deferred, ``cuda_core_sums``): x times the norm weight in fp32, unrounded; ``r`` unused. ``EVEN``: every
    column is in range (the norm weight and pre-scale load unmasked)."""
    rounds = True  # whether the value so far is of X_DT (else fp32)
    if NORM == 2:  # deferred: the norm weight now, the row's multiplier on the sums (``cuda_core_sums``)
        x = x * load_f32(g_ptr, cols, K, EVEN)
        rounds = False
    elif NORM:
        x = rms_normalized(x, r, load_f32(g_ptr, cols, K, EVEN), X_DT, g_ptr.dtype.element_ty)
        rounds = g_ptr.dtype.element_ty == X_DT
    if SMOOTH:
        x = x * load_f32(p_ptr, cols, K, EVEN)
        if rounds and p_ptr.dtype.element_ty == X_DT:
            x = x.to(X_DT).to(tl.float32)
    return x


@triton.jit
def sum_of_squares(src, K, BK: tl.constexpr):
    ssq = tl.zeros((BK,), dtype=tl.float32)
    for k0 in range(0, K, BK):
        x = load_f32(src, k0 + tl.arange(0, BK), K)
        ssq += x * x
    return tl.sum(ssq, axis=0)


@triton.jit
def token_scale(amax, QUANT: tl.constexpr, CUDA: tl.constexpr):
    """(scale, 1 / scale) of a token with absolute maximum ``amax``: torchao's per-token int8 / FP8 scales."""
    if QUANT == 1:
        scale = tl.maximum(scalar_quotient(amax, INT8_RANGE, CUDA), FP32_EPS)
    else:
        scale = tl.maximum(scalar_quotient(amax, FP8_LIMIT, CUDA), FP8_SCALE_FLOOR)
    return scale, tl.math.div_rn(tl.full(scale.shape, 1.0, tl.float32), scale)


@triton.jit
def quantized(v, scale, inv, QUANT: tl.constexpr):
    """fp32 values v → their int8 (``QUANT`` 1) or e4m3 (2) codes, as fp32: ``quantize_activation``'s rounding.
    int8: round half to even of the rounded product v * inv, clamped to [-128, 127]; decided by comparisons
    against floor + 0.5, so no add follows the multiply (a kernel compiled with FMA contraction would otherwise
    round the exact product). e4m3: v / scale correctly rounded (``exact_quotient``: as IEEE division, without
    it), clamped to +-448, cast."""
    if QUANT == 1:
        t = v * inv
        f = tl.floor(t)
        half = f + 0.5
        up = (t > half) | ((t == half) & ((f.to(tl.int32) & 1) != 0))
        q = tl.minimum(tl.maximum(tl.where(up, f + 1.0, f), -128.0), 127.0)
    else:
        q = tl.minimum(tl.maximum(exact_quotient(v, scale, inv), -FP8_LIMIT), FP8_LIMIT)
        q = q.to(tl.float8e4nv).to(tl.float32)
    return q


@triton.jit
def store_codes(dst, cols, K, v, scale, inv, QUANT: tl.constexpr, FRAG_BK: tl.constexpr = 0):
    """Store values v (QUANT 0, in dst's dtype) or their int8 / e4m3 codes; with ``FRAG_BK``, each tile of
    ``FRAG_BK`` columns in the K order a swapped fragment-order tile reads (``frag_permuted`` at kWidth 2, as
    ``gemv.frag_activations``): the values permuted in registers, stored contiguously."""
    if FRAG_BK:
        v = tl.reshape(tiles_in_frag_order(v, v.shape[0] // FRAG_BK, FRAG_BK, 2), (v.shape[0],))
    if QUANT == 0:
        tl.store(dst + cols, v.to(dst.dtype.element_ty), mask=cols < K)
    elif QUANT == 1:
        tl.store(dst + cols, quantized(v, scale, inv, QUANT).to(tl.int8), mask=cols < K)
    else:
        q = quantized(v, scale, inv, QUANT).to(tl.float8e4nv)
        tl.store(dst + cols, q.to(tl.uint8, bitcast=True), mask=cols < K)


@triton.jit
def row_prologue(
    xsrc, rm, eps, inv_k, NORM: tl.constexpr, SMOOTH: tl.constexpr, QUANT: tl.constexpr, CUDA: tl.constexpr,
    BKS: tl.constexpr,
):  # fmt: skip
    """Per row of ``rm`` [BM]: (RMSNorm multiplier, per-token scale, 1 / scale), each 1.0 where unused. The scale
    needs the row's absolute maximum after the norm and the pre-scale, so every program reads its rows once
    more (``BKS`` columns at a time; from L2, a few KB): cheaper at 1-4 rows than a launch of
    ``normalize_rows``, and rounded as it rounds."""
    x_ptr, g_ptr, p_ptr, M, K, stride_xm = xsrc[0], xsrc[1], xsrc[2], xsrc[3], xsrc[4], xsrc[5]
    ones = tl.full(rm.shape, 1.0, tl.float32)
    rv = ones
    if NORM == 1:  # (NORM 2: the statistics gather in the K loop, ``cuda_core_sums``)
        rv = rms_multiplier(x_ptr, rm, M, K, stride_xm, eps, inv_k, BKS)
    scale = ones
    inv = ones
    if QUANT != 0:
        amax = tl.zeros(rm.shape, dtype=tl.float32)
        for k0 in range(0, K, BKS):
            rk = k0 + tl.arange(0, BKS)
            x = tl.load(
                x_ptr + rm[:, None] * stride_xm + rk[None, :], mask=(rm[:, None] < M) & (rk[None, :] < K), other=0
            )
            v = row_values(
                x.to(tl.float32), x_ptr.dtype.element_ty, g_ptr, p_ptr, rk[None, :], K, rv[:, None], NORM, SMOOTH
            )
            amax = tl.maximum(amax, tl.max(tl.abs(v), axis=1))
        scale, inv = token_scale(amax, QUANT, CUDA)
    return rv, scale, inv


@triton.jit
def normalize_rows_kernel(
    x_ptr,
    g_ptr,
    p_ptr,
    out_ptr,
    scale_ptr,
    K,
    stride_xm,
    stride_om,
    eps,
    inv_k,
    NORM: tl.constexpr,
    SMOOTH: tl.constexpr,
    QUANT: tl.constexpr,
    BK: tl.constexpr,
    ONE_BLOCK: tl.constexpr,
    CUDA: tl.constexpr,
    PDL: tl.constexpr,
    FRAG_BK: tl.constexpr = 0,
):
    """One program per row: the RMSNorm (``NORM``), SmoothQuant's pre-scale (``SMOOTH``) and per-token
    quantization (``QUANT`` 1: int8, 2: e4m3) of fused.py's reference, step by step and each rounded as eager
    rounds it, into ``out`` (the quantized row and its scale at ``scale_ptr``, or with ``QUANT`` 0 the
    normalized row). Launched without FMA contraction, so every product and sum rounds on its own.
    Quantization is ``quantize_activation``'s: scale = max(amax / 127.5, fp32 eps), q = round-half-even of
    x * (1 / scale) clamped to [-128, 127]; or scale = max(amax / 448, 1e-12), q = e4m3(x / scale), the
    divisions by constants as PyTorch computes them on the device (``CUDA``: ``scalar_quotient``).
    ``ONE_BLOCK`` (K <= BK, every qwen2-vl row): the row is read once and every step runs on registers;
    longer rows are read once per step, BK columns at a time. ``FRAG_BK``: stored in the K order of the swapped
    fragment-order int4 tile (K tiles of ``FRAG_BK`` columns) that reads them next (``gemv``'s ``x_frag``)."""
    row = tl.program_id(0)
    src = x_ptr + row.to(tl.int64) * stride_xm
    dst = out_ptr + row.to(tl.int64) * stride_om
    X_DT: tl.constexpr = x_ptr.dtype.element_ty
    if PDL == PDL_EARLY:
        gdc_launch_dependents()
    if PDL:
        gdc_wait()
    r = 1.0
    if ONE_BLOCK:
        cols = tl.arange(0, BK)
        x = load_f32(src, cols, K)
        if NORM:
            r = tl.math.rsqrt(tl.sum(x * x, axis=0) * inv_k + eps)
        v = row_values(x, X_DT, g_ptr, p_ptr, cols, K, r, NORM, SMOOTH)
        scale, inv = 1.0, 1.0
        if QUANT != 0:
            scale, inv = token_scale(tl.max(tl.abs(v), axis=0), QUANT, CUDA)
        store_codes(dst, cols, K, v, scale, inv, QUANT, FRAG_BK)
    else:
        if NORM:
            r = tl.math.rsqrt(sum_of_squares(src, K, BK) * inv_k + eps)
        scale, inv = 1.0, 1.0
        if QUANT != 0:
            amax = tl.zeros((BK,), dtype=tl.float32)
            for k0 in range(0, K, BK):
                cols = k0 + tl.arange(0, BK)
                amax = tl.maximum(
                    amax, tl.abs(row_values(load_f32(src, cols, K), X_DT, g_ptr, p_ptr, cols, K, r, NORM, SMOOTH))
                )
            scale, inv = token_scale(tl.max(amax, axis=0), QUANT, CUDA)
        for k0 in range(0, K, BK):
            cols = k0 + tl.arange(0, BK)
            v = row_values(load_f32(src, cols, K), X_DT, g_ptr, p_ptr, cols, K, r, NORM, SMOOTH)
            store_codes(dst, cols, K, v, scale, inv, QUANT, FRAG_BK)
    if QUANT != 0:
        tl.store(scale_ptr + row, scale)
    if PDL == PDL_LATE:
        gdc_launch_dependents()


@triton.jit
def byte_plane(w, J: tl.constexpr, xor_bits):
    """Byte J (an int8 q) of every int32 word as the float 16 + (q + 128) / 16: the byte moved into mantissa
    bits 15-22 of 16.0 with its sign bit flipped (``xor_bits`` = bits of 16.0 | 1 << 22, a register)."""
    if J * 8 <= 15:
        t = w << (15 - 8 * J)
    else:
        t = w >> (8 * J - 15)
    return ((t & 0x7F8000) ^ xor_bits).to(tl.float32, bitcast=True)


@triton.jit
def split_last(x):
    """[T, 4] or [T, 8] → its columns as [T] tensors (in registers: the values sit in one lane)."""
    T: tl.constexpr = x.shape[0]
    if x.shape[1] == 4:
        xe, xo = tl.split(tl.reshape(x, (T, 2, 2)))
        x0, x2 = tl.split(xe)
        x1, x3 = tl.split(xo)
        return x0, x1, x2, x3, x0, x1, x2, x3
    else:
        xa, xb = tl.split(tl.reshape(x, (T, 4, 2)))
        x04, x26 = tl.split(tl.reshape(xa, (T, 2, 2)))
        x15, x37 = tl.split(tl.reshape(xb, (T, 2, 2)))
        x0, x4 = tl.split(x04)
        x2, x6 = tl.split(x26)
        x1, x5 = tl.split(x15)
        x3, x7 = tl.split(x37)
        return x0, x1, x2, x3, x4, x5, x6, x7


@triton.jit
def word_dot(
    p,
    w,
    magic,
    xsrc,
    m,
    col0,
    rowp,
    NORM: tl.constexpr,
    SMOOTH: tl.constexpr,
    X_PRE: tl.constexpr,
    A_MODE: tl.constexpr,
    XPART: tl.constexpr,
    W_FMT: tl.constexpr,
    X_EVEN: tl.constexpr = False,
):
    """[T, BN] packed words (int4: 8 columns each; int8: 4), starting at column ``col0`` [T], times
    activation row m: (p + sum over the word's columns of plane * x, sum of x, that of the lower planes' x (int4),
    sum of the loaded x's squares), [T, BN] and three [T]."""
    PER: tl.constexpr = 8 if W_FMT == 3 else 4
    cols = col0[:, None] + tl.arange(0, PER)[None, :]
    x, sq = load_x(xsrc, m, cols, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, X_EVEN)
    x0, x1, x2, x3, x4, x5, x6, x7 = split_last(x)
    if W_FMT == 3:
        h1, l0 = nibble_pair(w, 0, magic)
        p += l0 * x0[:, None]
        p += h1 * x1[:, None]
        h3, l2 = nibble_pair(w, 2, magic)
        p += l2 * x2[:, None]
        p += h3 * x3[:, None]
        h5, l4 = nibble_pair(w, 4, magic)
        p += l4 * x4[:, None]
        p += h5 * x5[:, None]
        h7, l6 = nibble_pair(w, 6, magic)
        p += l6 * x6[:, None]
        p += h7 * x7[:, None]
        xe = (x0 + x2) + (x4 + x6)  # the x of the lower planes (256 + v)
        xs = xe + ((x1 + x3) + (x5 + x7))
    else:
        p += byte_plane(w, 0, magic) * x0[:, None]
        p += byte_plane(w, 1, magic) * x1[:, None]
        p += byte_plane(w, 2, magic) * x2[:, None]
        p += byte_plane(w, 3, magic) * x3[:, None]
        xs = (x0 + x1) + (x2 + x3)
        xe = xs  # unused
    return p, xs, xe, tl.sum(sq, axis=1)


@triton.jit
def words_row(
    acc,
    w,
    s,
    zc,
    magic,
    xsrc,
    m,
    k0,
    rowp,
    NORM: tl.constexpr,
    SMOOTH: tl.constexpr,
    X_PRE: tl.constexpr,
    A_MODE: tl.constexpr,
    XPART: tl.constexpr,
    W_FMT: tl.constexpr,
    VEC: tl.constexpr,
    X_EVEN: tl.constexpr = False,
):
    """This iteration's packed tile [T * VEC words, BN] times activation row m, added to acc [T, BN];
    also returns the lane's sum of x [T] and of the loaded x's squares [T] (``load_x``).
    int4: sum((v - 8 - z) x) s = (sum(plane x) - (24 + z) sum(x) - 240 sum(x of the 256 + v planes)) s, a
    lane's VEC words in one group (``nibble_pair``: planes 16 + v and 256 + v);
    int8: sum(q x) = 16 (sum((16 + (q + 128) / 16) x) - 24 sum(x)): the planes chain straight into acc and
    the caller applies 16 and the x sums after the K loop."""
    T: tl.constexpr = w.shape[0] // VEC
    PER: tl.constexpr = 8 if W_FMT == 3 else 4
    col = k0 + PER * VEC * tl.arange(0, T)
    if W_FMT == 3:
        p = tl.zeros(acc.shape, dtype=tl.float32)
    else:
        p = acc
    if VEC == 1:
        p, xs, xe, xq = word_dot(p, w, magic, xsrc, m, col, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, W_FMT, X_EVEN)
    else:
        w3 = tl.permute(tl.reshape(w, (T, VEC, w.shape[1])), (0, 2, 1))  # a lane's words last
        if VEC == 2:
            w0, w1 = tl.split(w3)
            p, xs, xe, xq = word_dot(
                p, w0, magic, xsrc, m, col, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, W_FMT, X_EVEN
            )
            p, xs1, xe1, xq1 = word_dot(
                p, w1, magic, xsrc, m, col + PER, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, W_FMT, X_EVEN
            )
            xs += xs1
            xe += xe1
            xq += xq1
        else:
            wa, wb = tl.split(tl.reshape(w3, (T, w.shape[1], 2, 2)))
            w0, w2 = tl.split(wa)
            w1, w3_ = tl.split(wb)
            p, xs, xe, xq = word_dot(
                p, w0, magic, xsrc, m, col, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, W_FMT, X_EVEN
            )
            p, xs1, xe1, xq1 = word_dot(
                p, w1, magic, xsrc, m, col + PER, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, W_FMT, X_EVEN
            )
            p, xs2, xe2, xq2 = word_dot(
                p, w2, magic, xsrc, m, col + 2 * PER, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, W_FMT, X_EVEN
            )
            p, xs3, xe3, xq3 = word_dot(
                p, w3_, magic, xsrc, m, col + 3 * PER, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, W_FMT, X_EVEN
            )
            xs = (xs + xs1) + (xs2 + xs3)
            xe = (xe + xe1) + (xe2 + xe3)
            xq = (xq + xq1) + (xq2 + xq3)
    if W_FMT == 3:
        return acc + s * (p - zc * xs[:, None] - LOW_PLANE_EXCESS * xe[:, None]), xs, xq
    else:
        return p, xs, xq


@triton.jit
def dense_row(
    acc,
    wf,
    xsrc,
    m,
    rk,
    rowp,
    NORM: tl.constexpr,
    SMOOTH: tl.constexpr,
    X_PRE: tl.constexpr,
    A_MODE: tl.constexpr,
    XPART: tl.constexpr,
    X_EVEN: tl.constexpr = False,
):
    """acc [BK / 8, BN] += weights [BK / 8, 8, BN] (fp32) times activation row m at columns rk: each lane sums
    its 8 columns in registers, so the accumulator holds one value per row, not eight. Also the sums of the
    loaded x's squares, [BK / 8] (``load_x``)."""
    x, sq = load_x(xsrc, m, rk, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, X_EVEN)
    sq = tl.sum(tl.reshape(sq, (wf.shape[0], 8)), axis=1)
    return acc + tl.sum(wf * tl.reshape(x, (wf.shape[0], 8))[:, :, None], axis=1), sq


@triton.jit
def pick(v, i: tl.constexpr):
    """Element i of a small vector as a scalar."""
    return tl.sum(tl.where(tl.arange(0, v.shape[0]) == i, v, 0.0), axis=0)


@triton.jit
def finish(
    y,
    rm,
    rn,
    pid_n,
    tile,
    pid_k,
    n_split,
    M,
    N,
    part_ptr,
    sem_ptr,
    ws_ptr,
    xs,
    b_ptr,
    r_ptr,
    y_ptr,
    stride_rm,
    stride_ym,
    ROW_SCALE: tl.constexpr,
    A_MODE: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACT: tl.constexpr,
    RESID: tl.constexpr,
    SPLIT: tl.constexpr,
    BN: tl.constexpr,
    max_ptr=None,
    max_p_ptr=None,
    ROW_MAX: tl.constexpr = False,
    ROW_MAX_SMOOTH: tl.constexpr = False,
):
    """[BM, BN] fp32 sums → the output tile, once per tile. Split K: each slice stores its fp32 partial and
    counts in on the tile's semaphore; the last slice to arrive sums all partials (read through L2), resets the
    semaphore and runs the epilogue. ``xs`` [BM]: the rows' activation scales (W8A8). ``ROW_MAX``: each row's
    absolute maximum over the tile as stored (times the pre-scale at ``max_p_ptr`` where ``ROW_MAX_SMOOTH``,
    rounded as ``normalize_rows`` rounds it) joins the row's at ``max_ptr`` (atomic max: tiles in any order)."""
    last = True
    if SPLIT:
        mask = (rm[:, None] < M) & (rn[None, :] < N)
        offs = rm[:, None] * N + rn[None, :]
        tl.store(part_ptr + pid_k * M * N + offs, y, mask=mask)
        tl.debug_barrier()  # all lanes' partials are written before the release
        arrived = tl.atomic_add(sem_ptr + tile, 1, sem="acq_rel")
        last = arrived == n_split - 1
        if last:
            y = tl.zeros(y.shape, dtype=tl.float32)
            for s in range(n_split):
                y += tl.load(part_ptr + s * M * N + offs, mask=mask, other=0, cache_modifier=".cg")
            tl.atomic_xchg(sem_ptr + tile, 0)
    if last:  # weight and activation scales, bias, SiLU(gate) * up, residual -> store
        out = y  # a new name: with SiLU·mul the tile halves, and y's type must not change inside this branch
        if ROW_SCALE:  # per-row weight scales (8-bit weights; optional for float weights)
            out = out * tl.load(ws_ptr + rn, mask=rn < N, other=0).to(tl.float32)[None, :]
        if A_MODE != 0:  # W8A8: the rows' activation scales
            out = out * xs[:, None]
        if HAS_BIAS:
            out = out + tl.load(b_ptr + rn, mask=rn < N, other=0).to(tl.float32)[None, :]
        if ACT == 1:
            gate, up = tl.split(tl.reshape(out, (out.shape[0], BN // 2, 2)))
            out = gate * tl.sigmoid(gate) * up
            cols = pid_n * (BN // 2) + tl.arange(0, BN // 2)
            n_out = N // 2
        else:
            cols = rn
            n_out = N
        out_mask = (rm[:, None] < M) & (cols[None, :] < n_out)
        if RESID:
            out += tl.load(r_ptr + rm[:, None] * stride_rm + cols[None, :], mask=out_mask, other=0).to(tl.float32)
        tl.store(y_ptr + rm[:, None] * stride_ym + cols[None, :], out.to(y_ptr.dtype.element_ty), mask=out_mask)
        if ROW_MAX:
            Y_DT: tl.constexpr = y_ptr.dtype.element_ty
            stored = out.to(Y_DT).to(tl.float32)
            v = row_values(stored, Y_DT, max_p_ptr, max_p_ptr, cols[None, :], n_out, 1.0, False, ROW_MAX_SMOOTH)
            row_abs_max = tl.max(tl.where(out_mask, tl.abs(v), 0.0), axis=1)
            tl.atomic_max(max_ptr + rm, row_abs_max, mask=rm < M, sem="relaxed")


@triton.jit
def load_tile(ptrs, live, in_tile, EVEN: tl.constexpr):
    """A weight tile, or nothing where ``live`` is false (the tile after the last). Ragged edges read 0."""
    if EVEN:
        return tl.load(ptrs, mask=live)
    return tl.load(ptrs, mask=live & in_tile, other=0)


@triton.jit
def replaced(t, i: tl.constexpr, v):
    """The 4-tuple t with item i replaced by v (Triton tuples take no item assignment)."""
    if i == 0:
        return v, t[1], t[2], t[3]
    elif i == 1:
        return t[0], v, t[2], t[3]
    elif i == 2:
        return t[0], t[1], v, t[3]
    else:
        return t[0], t[1], t[2], v


@triton.jit
def stack_rows(accs, rm, BM: tl.constexpr):
    """Per-row [T, BN] accumulators → one [BM, BN] tile (each reduced over its lanes' K)."""
    y = tl.zeros((BM, accs[0].shape[1]), dtype=tl.float32)
    for r in tl.static_range(BM):
        y = tl.where(rm[:, None] == r, tl.sum(accs[r], axis=0)[None, :], y)
    return y


@triton.jit
def word_meta(ws_ptr, wz_ptr, meta_ptrs, gi, in_n, K, T: tl.constexpr, BN: tl.constexpr, W_FMT: tl.constexpr,
              GROUP: tl.constexpr, HAS_ZERO: tl.constexpr, EVEN: tl.constexpr = False):  # fmt: skip
    """int4: the [T, BN] group scales and 24 + zero points of the lanes' words (each lane's words lie in one group);
    placeholders otherwise. ``EVEN`` (whole row and K tiles, a tile of the K loop, ``gemv``'s ``$VLMQ_GEMV_UNMASKED``):
    every group is in range, so the loads go unmasked (no predicate and zero fill a row and group)."""
    s = tl.zeros((T, BN), dtype=tl.float32)
    zc = s
    if W_FMT == 3:
        in_meta = in_n[None, :] & (gi[:, None] < K // GROUP)
        s = load_in_range(ws_ptr + meta_ptrs, in_meta, EVEN).to(tl.float32)
        zc = tl.full((T, BN), 24.0, tl.float32)
        if HAS_ZERO:
            zc += load_in_range(wz_ptr + meta_ptrs, in_meta, EVEN).to(tl.float32)
    return s, zc


@triton.jit
def rows_of_words(accs, xsum, xsq, w, s, zc, magic, xsrc, rm, kb, rv, xscale, xinv, NORM: tl.constexpr,
                  SMOOTH: tl.constexpr, X_PRE: tl.constexpr, A_MODE: tl.constexpr, XPART: tl.constexpr,
                  W_FMT: tl.constexpr, BM: tl.constexpr, VEC: tl.constexpr, X_EVEN: tl.constexpr = False):  # fmt: skip
    """One K tile of packed words [T * VEC, BN] times each activation row: the rows' accumulators, x sums and, for
    a deferred RMSNorm (``NORM`` 2), sums of squares."""
    for r in tl.static_range(BM):
        rowp = (pick(rv, r), pick(xscale, r), pick(xinv, r))
        acc_r, xs, xq = words_row(
            accs[r], w, s, zc, magic, xsrc, r, kb, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, W_FMT, VEC, X_EVEN
        )
        xsum += tl.where(rm[None, :] == r, xs[:, None], 0.0)
        if NORM == 2:
            xsq += tl.where(rm[None, :] == r, xq[:, None], 0.0)
        accs = replaced(accs, r, acc_r)
    return accs, xsum, xsq


@triton.jit
def prefetch_l2(ptrs):
    """Each pointer's 128-byte line into L2 (``prefetch.global.L2``, one a lane and pointer): nothing waits for the
    bytes and no register holds them, so it may run before the PDL wait -- a later load of the line hits L2. The
    returned zeros are unused (the asm is impure, so the compiler keeps it)."""
    return tl.inline_asm_elementwise(
        "prefetch.global.L2 [$1]; mov.u32 $0, 0;", "=r,l", [ptrs], dtype=tl.int32, is_pure=False, pack=1
    )


@triton.jit
def cuda_core_sums(
    xsrc, xs_ptr, w_ptr, ws_ptr, wz_ptr, rm, rn, k_lo, k_hi, N, stride_wn, stride_sn, eps, inv_k,
    magic, W_FMT: tl.constexpr, A_MODE: tl.constexpr, X_PRE: tl.constexpr, NORM: tl.constexpr, SMOOTH: tl.constexpr,
    GROUP: tl.constexpr, HAS_ZERO: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
    VEC: tl.constexpr, EVEN: tl.constexpr, PDL: tl.constexpr, PIPE: tl.constexpr, CUDA: tl.constexpr,
    XPART: tl.constexpr, TAIL_VEC: tl.constexpr, STAGES: tl.constexpr = 1, X_MAX: tl.constexpr = False,
    PREFETCH: tl.constexpr = 0, UNMASKED: tl.constexpr = False,
):  # fmt: skip
    """CUDA cores, M <= BM <= 4 rows: [BM, BN] fp32 sums over the K slice [k_lo, k_hi). One fp32 tile per
    activation row (a tuple of BM), reduced over K once at the end. Float weights: each lane sums its 8 columns
    in registers (``dense_row``); int8 and int4 weights are read as int32 words (``VEC`` per lane) and widened
    plane by plane (``words_row``). The first K tile is loaded before ``gdc_wait`` (programmatic dependent
    launch: weights do not depend on the previous kernel, activations do); each next tile after the current
    one is used, or before it (``PIPE``). Float rows go through the row prologue here (``row_prologue``:
    RMSNorm, pre-scale and, for W8A8, per-token quantization; each program computes its rows' statistics).
    ``TAIL_VEC`` (packed words; ``gemv.tail_vec``): the slice ends in a part tile of that many words a lane, run
    as its own narrower tile after the whole ones instead of as a whole tile mostly masked off.
    ``STAGES`` > 1: the K loop's loads go through Triton's software pipeliner instead (cp.async into shared memory,
    STAGES - 1 tiles ahead: weight bytes in flight that hold no registers; the first tile then loads after the
    wait, and ``PIPE`` is unused).
    ``X_MAX`` (W8A8 float rows): the rows' absolute maxima after the pre-scale are at ``xs_ptr``, so the prologue
    reads no row for its statistics.
    ``PREFETCH`` (lines, a power of two; 0: none): with ``STAGES`` > 1, the first ``PREFETCH`` 128-byte lines of each
    of the program's weight rows in its K slice are prefetched into L2 before ``gdc_wait`` (``gemv``'s
    ``$VLMQ_GEMV_PREFETCH``), so the pipeliner's first loads after the wait hit L2 instead of HBM.
    ``UNMASKED`` (with ``EVEN``: whole tiles and K loop; ``gemv``'s ``$VLMQ_GEMV_UNMASKED``): the K loop's loads go
    unmasked -- the int4 group scales and zero points (``word_meta``) and, at one row, the activations, the norm
    weight and the pre-scale (``load_x``).
    ``NORM`` 2 (float rows, one K slice): the RMSNorm deferred -- no statistics pass before the first tile; the
    rows' values times the norm weight go into the sums unrounded, the squares of the values loaded for them gather
    per lane as the int8 x sums do, and the sums are multiplied by rsqrt(mean(x^2) + eps) after the K loop
    (``gemv``'s ``norm_defer``). With ``X_MAX`` (W8A8, ``fused.fused_linear_gather``): the maxima at ``xs_ptr`` are
    those of the rows times the norm weight and pre-scale before the norm (r max|x g p|, r > 0, is the normalized
    row's), so a value's code, e4m3 / int8 of x g p / (max / 448 or 127), does not depend on the multiplier r, which
    joins the sums after the K loop with the activation scale max / 448 (127): no pass over the rows before the
    first tile.
    Returns the sums and the rows' activation scales (W8A8; else ones)."""
    M, K = xsrc[3], xsrc[4]
    tl.static_assert(
        NORM != 2 or (X_PRE == 0 and XPART == 0 and ((A_MODE == 0 and SMOOTH == 0) or X_MAX)),
        "a deferred RMSNorm: float rows (W8A8 ones with their maxima, X_MAX)",
    )
    PER: tl.constexpr = 8 if W_FMT == 3 else (4 if W_FMT == 1 else 1)  # columns per loaded element
    X_EVEN: tl.constexpr = EVEN and UNMASKED and BM == 1  # the K loop's row and columns all in range
    BKW: tl.constexpr = BK // PER  # elements of a row per K tile
    T: tl.constexpr = BK // 8 if PER == 1 else BKW // VEC  # accumulator rows: lanes' partial sums
    k_end = k_hi - TAIL_VEC * PER * T  # the whole tiles' end
    in_n = rn < N
    kw = tl.max_contiguous(
        tl.multiple_of(k_lo // PER + tl.arange(0, BKW), 8 if PER == 1 else VEC), 8 if PER == 1 else VEC
    )
    w_ptrs = w_ptr + rn[None, :] * stride_wn + kw[:, None]
    if STAGES == 1:
        w = load_tile(w_ptrs, k_lo < k_end, in_n[None, :] & (kw[:, None] < K // PER), EVEN)
    elif PREFETCH:
        LINE: tl.constexpr = 1024 // w_ptr.dtype.element_ty.primitive_bitwidth  # elements of a 128-byte line
        kl = k_lo // PER + LINE * tl.arange(0, PREFETCH)
        live = in_n[None, :] & (kl[:, None] < k_hi // PER)
        prefetch_l2(tl.where(live, w_ptr + rn[None, :] * stride_wn + kl[:, None], w_ptr))
    if PDL:
        gdc_wait()
    # the rows' statistics: 2048 values a row per iteration (64 a lane at one warp)
    rv, xscale, xinv = row_prologue(
        xsrc, rm, eps, inv_k, NORM, SMOOTH, 0 if X_PRE or X_MAX else A_MODE, CUDA, 2048 // BM
    )  # fmt: skip
    if X_MAX:
        xscale, xinv = token_scale(tl.load(xs_ptr + rm, mask=rm < M, other=0).to(tl.float32), A_MODE, CUDA)
    elif X_PRE and A_MODE != 0:
        xscale = tl.load(xs_ptr + rm, mask=rm < M, other=0).to(tl.float32)
    zero = tl.zeros((T, BN), dtype=tl.float32)
    accs = (zero, zero, zero, zero)  # the first BM are used
    xsum = tl.zeros((T, BM), dtype=tl.float32)  # int8: per-lane sums of each row's x
    xsq = tl.zeros((T, BM), dtype=tl.float32)  # NORM 2: per-lane sums of each row's squares
    gi = (k_lo + PER * VEC * tl.arange(0, T)) // GROUP
    meta_ptrs = rn[None, :] * stride_sn + gi[:, None]
    # (the group values loaded a tile ahead here too measured no faster tile at one row and a slower shipped one --
    # the 2b q/k/v's, 2.9 -> 3.5 us under its register cap: results/h200-2026-12-03ak/call2-int4-meta-ahead)
    for k0 in tl.range(k_lo, k_end, BK, num_stages=STAGES):
        kb = tl.multiple_of(k0, BK)
        nxt = (w_ptrs + BKW, k0 + BK < k_end, in_n[None, :] & (kw[:, None] + BKW < K // PER))
        if STAGES > 1:  # loaded where it is used: the pipeliner issues it STAGES - 1 iterations early
            w = load_tile(w_ptrs, k0 < k_end, in_n[None, :] & (kw[:, None] < K // PER), EVEN)
        elif PIPE:  # the next tile's load in flight while this one is used (twice the weight registers)
            w_next = load_tile(nxt[0], nxt[1], nxt[2], EVEN)
        if PER == 1:
            wf = w
            if W_FMT == 2:
                wf = w.to(tl.float8e4nv, bitcast=True)
            wf = tl.reshape(wf.to(tl.float32), (T, 8, BN))
            for r in tl.static_range(BM):
                rowp = (pick(rv, r), pick(xscale, r), pick(xinv, r))
                acc_r, xq = dense_row(accs[r], wf, xsrc, r, kw, rowp, NORM, SMOOTH, X_PRE, A_MODE, XPART, X_EVEN)
                if NORM == 2:
                    xsq += tl.where(rm[None, :] == r, xq[:, None], 0.0)
                accs = replaced(accs, r, acc_r)
        else:
            s, zc = word_meta(ws_ptr, wz_ptr, meta_ptrs, gi, in_n, K, T, BN, W_FMT, GROUP, HAS_ZERO, EVEN and UNMASKED)
            accs, xsum, xsq = rows_of_words(
                accs, xsum, xsq, w, s, zc, magic, xsrc, rm, kb, rv, xscale, xinv, NORM, SMOOTH, X_PRE, A_MODE, XPART,
                W_FMT, BM, VEC, X_EVEN,
            )  # fmt: skip
        if STAGES == 1:
            w = w_next if PIPE else load_tile(nxt[0], nxt[1], nxt[2], EVEN)
        w_ptrs += BKW
        kw += BKW
        meta_ptrs += BK // GROUP
        gi += BK // GROUP
    if TAIL_VEC:  # the slice's last TAIL_VEC words a lane (whole rows: EVEN_N), each lane's still in one group
        kt = tl.max_contiguous(tl.multiple_of(k_end // PER + tl.arange(0, T * TAIL_VEC), TAIL_VEC), TAIL_VEC)
        w_tail = tl.load(w_ptr + rn[None, :] * stride_wn + kt[:, None])
        gt = (k_end + PER * TAIL_VEC * tl.arange(0, T)) // GROUP
        s, zc = word_meta(ws_ptr, wz_ptr, rn[None, :] * stride_sn + gt[:, None], gt, in_n, K, T, BN, W_FMT, GROUP,
                          HAS_ZERO)  # fmt: skip
        accs, xsum, xsq = rows_of_words(
            accs, xsum, xsq, w_tail, s, zc, magic, xsrc, rm, k_end, rv, xscale, xinv, NORM, SMOOTH, X_PRE, A_MODE,
            XPART, W_FMT, BM, TAIL_VEC,
        )  # fmt: skip
    y = stack_rows(accs, rm, BM)
    if W_FMT == 1:  # int8 planes: sum(q x) = 16 (sum(plane x) - 24 sum(x))
        y = 16.0 * (y - 24.0 * tl.sum(xsum, axis=0)[:, None])
    if NORM == 2:  # Qwen2RMSNorm's multiplier, as rms_multiplier computes it, on the sums
        y = y * tl.math.rsqrt(tl.sum(xsq, axis=0) * inv_k + eps)[:, None]
    return y, xscale


@triton.jit
def int4_codes(w_ptr, rn, in_n, k0, stride_wn, one_bits, BK: tl.constexpr):
    """[BN, BK] int4 codes of one K tile as the fp32 values 16 + v, in column order (column 8i + j is nibble j of
    word i: four ``tl.join`` of nibble planes)."""
    rw = k0 // 8 + tl.arange(0, BK // 8)
    w = tl.load(w_ptr + rn[:, None] * stride_wn + rw[None, :], mask=in_n[:, None], other=0)
    a0 = tl.join(nibble_plane(w, 0, one_bits), nibble_plane(w, 4, one_bits))
    a1 = tl.join(nibble_plane(w, 1, one_bits), nibble_plane(w, 5, one_bits))
    a2 = tl.join(nibble_plane(w, 2, one_bits), nibble_plane(w, 6, one_bits))
    a3 = tl.join(nibble_plane(w, 3, one_bits), nibble_plane(w, 7, one_bits))
    return tl.reshape(tl.join(tl.join(a0, a2), tl.join(a1, a3)), (w.shape[0], BK))


@triton.jit
def frag_permuted(t, KW: tl.constexpr):
    """[R, 4, U, 2, 2, 2] values of a K tile, column 8U c + 8u + 4e + 2a + b at [., c, u, e, a, b] (U = BK / 32)
    → [R, BK] in the K order of an MMA operand fragment of 16-bit values holding ``KW`` consecutive positions a
    register group (Triton's kWidth), quad lane c the next two position bits, its registers the rest:
    L = 32u + 16a + 8b + 2c + e (KW 2), 32u + 16a + 4c + 2b + e (4), 32u + 8c + 4a + 2b + e (8). So lane c
    unpacks its fragment from its own words c U .. c U + U - 1 (the pair e = 0, 1 from one word: nibbles j and
    j + 4), and the activations are gathered into the same order."""
    if KW == 2:
        f = tl.permute(t, (0, 2, 4, 5, 1, 3))
    elif KW == 4:
        f = tl.permute(t, (0, 2, 4, 1, 5, 3))
    else:
        f = tl.permute(t, (0, 2, 1, 4, 5, 3))
    return tl.reshape(f, (t.shape[0], 8 * t.shape[1] * t.shape[2]))


@triton.jit
def tiles_in_frag_order(x, R: tl.constexpr, BK: tl.constexpr, KW: tl.constexpr):
    """R K tiles of BK values in column order (any shape of R * BK values) → [R, BK] in ``frag_permuted`` order."""
    return frag_permuted(tl.reshape(x, (R, 4, BK // 32, 2, 2, 2)), KW)


@triton.jit
def frag_order(p0, p1, p2, p3, KW: tl.constexpr):
    """Four [R, 4, U, 2] pairs (pair j: nibbles j and j + 4 of word c U + u) → [R, BK] in ``frag_permuted`` order."""
    return frag_permuted(tl.join(tl.join(p0, p2), tl.join(p1, p3)), KW)


@triton.jit
def bf16_pair(w, J: tl.constexpr, pair_bits, zero_bits, scale_bits, SCALED: tl.constexpr):
    """Nibbles J and J + 4 of every int32 word as two bf16 in one register: the codes v - 8 - z, or with ``SCALED``
    (v - 8 - z) * s rounded once, as w4's reference rounds. The nibbles shifted to bits 3-6 and 19-22, one LOP3 with
    the bits of two bf16 16.0 (``pair_bits``, a register) gives 16 + v; one bf16x2 FMA adds -(24 + z) (exact: small
    integers; ``zero_bits``, two bf16 per row), one more multiplies by s (``scale_bits``). No int -> float
    conversion; inline PTX, as Triton has no 32 → 2 x 16 bit cast (``pack=2`` hands the asm two elements: two
    copies of each word)."""
    if J == 0:
        t = w << 3
    else:
        t = w >> (4 * J - 3)
    if SCALED:  # x * s + -0.0 rounds x * s once and keeps the sign of a zero product
        p = tl.inline_asm_elementwise(
            "{ .reg .b32 c, one, nz; lop3.b32 c, $1, 0x00780078, $3, 0xea; mov.b32 one, 0x3F803F80; "
            "fma.rn.bf16x2 c, c, one, $5; mov.b32 nz, 0x80008000; fma.rn.bf16x2 $0, c, $7, nz; }",
            "=r,r,r,r,r,r,r,r,r",
            [tl.join(t, t), pair_bits, zero_bits[:, :, :, None], scale_bits[:, :, :, None]],
            dtype=tl.bfloat16,
            is_pure=True,
            pack=2,
        )
    else:
        p = tl.inline_asm_elementwise(
            "{ .reg .b32 c, one; lop3.b32 c, $1, 0x00780078, $3, 0xea; mov.b32 one, 0x3F803F80; "
            "fma.rn.bf16x2 $0, c, one, $5; }",
            "=r,r,r,r,r,r,r",
            [tl.join(t, t), pair_bits, zero_bits[:, :, :, None]],
            dtype=tl.bfloat16,
            is_pure=True,
            pack=2,
        )
    return p


@triton.jit
def f32_pair(w, J: tl.constexpr, one_bits):
    """Nibbles J and J + 4 of every int32 word as fp32 16 + v, [..., 2] (``nibble_plane``)."""
    return tl.join(nibble_plane(w, J, one_bits), nibble_plane(w, J + 4, one_bits))


@triton.jit
def frag_rows(n0, BN: tl.constexpr, NW: tl.constexpr, SWAP: tl.constexpr):
    """[BN] weight rows a fragment-order tile loads at positions r = g + 8 q + 8 NW h + 16 NW rep: row
    n0 + 8 H NW rep + 8 H q + 8 h + g. On such a [BN, ...] tile Triton's coalesced layout puts 8 positions on a
    warp's lanes and q on its warps, as the MMA fragments do: wgmma (``SWAP``, H = 2) has warp q on rows 16 q + g
    and + 8, mma.sync (H = 1, 16 activation rows) warp q on rows 8 q + g of each 8 NW."""
    H: tl.constexpr = 2 if SWAP else 1
    r = tl.arange(0, BN)
    g, q, h, rep = r % 8, (r // 8) % NW, (r // (8 * NW)) % H, r // (8 * H * NW)
    return n0 + 8 * H * NW * rep + 8 * H * q + 8 * h + g


@triton.jit
def frag_row_order(t, NW: tl.constexpr, SWAP: tl.constexpr):
    """[BN, A, B] values at ``frag_rows`` positions → the same in row order (a relabelling: no data moves)."""
    H: tl.constexpr = 2 if SWAP else 1
    BN: tl.constexpr = t.shape[0]
    t = tl.reshape(t, (BN // (8 * H * NW), H, NW, 8, t.shape[1], t.shape[2]))
    return tl.reshape(tl.permute(t, (0, 2, 1, 3, 4, 5)), (BN, t.shape[4], t.shape[5]))


@triton.jit
def int4_frag_words(w_ptr, rows, N, k0, stride_wn, BK: tl.constexpr, NW: tl.constexpr, SWAP: tl.constexpr):
    """[BN, 4, U] int32 words (U = BK / 32) of K tile k0, word c U + u at [., c, u], rows in order, each lane
    holding its MMA fragment's words: loaded at ``frag_rows`` positions U words a lane (contiguous U at a time,
    so that Triton's coalesced layout has 4 lanes a row)."""
    U: tl.constexpr = BK // 32
    word = tl.arange(0, BK // 8)
    cols = (word // U) * U + word % U  # = word, but contiguous only U at a time for the compiler's analysis
    # the tile's first word as a multiple of BK / 8 (k0 is one), so each lane's U words load as one vector
    ptrs = w_ptr + rows[:, None] * stride_wn + ((k0 // BK) * (BK // 8) + cols)[None, :]
    w = tl.load(ptrs, mask=(rows < N)[:, None], other=0)
    return frag_row_order(tl.reshape(w, (rows.shape[0], 4, U)), NW, SWAP)


@triton.jit
def frag_group_values(
    ptr, rows, N, k0, stride, BK: tl.constexpr, GROUP: tl.constexpr, NW: tl.constexpr, SWAP: tl.constexpr
):  # fmt: skip
    """Per-row values of K tile k0's groups (scales or zero points) at ``frag_rows``, in the words' row order:
    [BN, 1, 1] where the tile lies in one group, else [BN, 4, 1] -- chunk c of the tile (its words c U .. c U + U - 1,
    columns BK / 4 c ..) lies in group k0 / GROUP + (BK / 4 c) / GROUP, for a tile of up to four groups."""
    if BK <= GROUP:
        v = tl.reshape(tl.load(ptr + rows * stride + k0 // GROUP, mask=rows < N, other=0), (rows.shape[0], 1, 1))
    else:
        col = k0 // GROUP + (tl.arange(0, 4) * (BK // 4)) // GROUP
        v = tl.load(ptr + rows[:, None] * stride + col[None, :], mask=(rows < N)[:, None], other=0)
        v = tl.reshape(v, (rows.shape[0], 4, 1))
    return frag_row_order(v, NW, SWAP)


@triton.jit
def int4_frag_group(
    ws_ptr, wz_ptr, rows, N, k0, stride_sn, BK: tl.constexpr, GROUP: tl.constexpr, NW: tl.constexpr,
    SWAP: tl.constexpr, HAS_ZERO: tl.constexpr, SCALED: tl.constexpr,
):  # fmt: skip
    """K tile k0's zero points (int32) and scales (as stored) at ``frag_rows`` (``frag_group_values``): zeros, or
    fp32 ones, where the tile has none or takes no scales."""
    C: tl.constexpr = 1 if BK <= GROUP else 4
    z = tl.zeros((rows.shape[0], C, 1), tl.int32)
    if HAS_ZERO:
        z = frag_group_values(wz_ptr, rows, N, k0, stride_sn, BK, GROUP, NW, SWAP).to(tl.int32)
    scale = tl.full((rows.shape[0], C, 1), 1.0, tl.float32)
    if SCALED:
        scale = frag_group_values(ws_ptr, rows, N, k0, stride_sn, BK, GROUP, NW, SWAP)
    return z, scale


@triton.jit
def int4_frag_tile(
    w_ptr, z, scale, rows, N, k0, stride_wn, one_bits, BK: tl.constexpr, NW: tl.constexpr, SWAP: tl.constexpr,
    KW: tl.constexpr, SCALED: tl.constexpr, BF16: tl.constexpr, DT: tl.constexpr,
):  # fmt: skip
    """[BN, BK] int4 weights of the rows ``rows`` (``frag_rows``) and K tile k0 in ``frag_order``, in DT: the codes
    v - 8 - z (exact), or with ``SCALED`` (v - 8 - z) * s rounded once (w4's reference). Made as bf16 pairs
    (``BF16``: inline PTX, compiled for a GPU only) or from fp32 planes; ``z`` and ``scale`` the tile's
    ``int4_frag_group`` (a ``SCALED`` tile may span up to four groups, each chunk of a lane's words in one)."""
    w = int4_frag_words(w_ptr, rows, N, k0, stride_wn, BK, NW, SWAP)
    if BF16:
        sb = tl.zeros(z.shape, tl.int32)
        if SCALED:  # two bf16 scales a register
            sb = scale.to(tl.int16, bitcast=True).to(tl.int32) & 0xFFFF
            sb = sb | (sb << 16)
        bits = one_bits | (one_bits >> 16)
        nz = 0xC180 | ((z + 8) << 3)  # bf16 -(24 + z) = -(16 + (8 + z)): 8 + z in [0, 15] in mantissa bits 3-6
        nz = nz | (nz << 16)
        f = frag_order(
            bf16_pair(w, 0, bits, nz, sb, SCALED), bf16_pair(w, 1, bits, nz, sb, SCALED),
            bf16_pair(w, 2, bits, nz, sb, SCALED), bf16_pair(w, 3, bits, nz, sb, SCALED), KW,
        )  # fmt: skip
    else:
        # (16 + v - (24 + z)) * s on each pair plane (its chunk's group): exact in fp32, then rounded once to DT
        zc = (z.to(tl.float32) + 24.0)[:, :, :, None]
        sc = scale.to(tl.float32)[:, :, :, None]
        f = frag_order(
            (f32_pair(w, 0, one_bits) - zc) * sc, (f32_pair(w, 1, one_bits) - zc) * sc,
            (f32_pair(w, 2, one_bits) - zc) * sc, (f32_pair(w, 3, one_bits) - zc) * sc, KW,
        ).to(DT)  # fmt: skip
    return f


@triton.jit
def int4_group(ws_ptr, wz_ptr, rn, in_n, k0, stride_sn, GROUP: tl.constexpr, HAS_ZERO: tl.constexpr):
    """(scale, 24 + zero) per weight row for the group of column k0, fp32: (v - 8 - z) * s = (f - zc) * s."""
    grp = k0 // GROUP
    s = tl.load(ws_ptr + rn * stride_sn + grp, mask=in_n, other=0).to(tl.float32)
    zc = tl.full(s.shape, 24.0, tl.float32)
    if HAS_ZERO:
        zc += tl.load(wz_ptr + rn * stride_sn + grp, mask=in_n, other=0).to(tl.float32)
    return s, zc


@triton.jit
def int4_tile(
    w_ptr,
    ws_ptr,
    wz_ptr,
    rn,
    in_n,
    k0,
    stride_wn,
    stride_sn,
    one_bits,
    GROUP: tl.constexpr,
    HAS_ZERO: tl.constexpr,
    BK: tl.constexpr,
    DTYPE: tl.constexpr,
):
    """[BN, BK] dequantized int4 weights (one group: BK <= GROUP) in column order, rounded to DTYPE as
    w4's reference rounds them: (v - 8 - z) * s."""
    f = int4_codes(w_ptr, rn, in_n, k0, stride_wn, one_bits, BK)
    s, zc = int4_group(ws_ptr, wz_ptr, rn, in_n, k0, stride_sn, GROUP, HAS_ZERO)
    return dequantized(f, s, zc, DTYPE)


@triton.jit
def dequantized(f, s, zc, DTYPE: tl.constexpr):
    """Codes f = 16 + v [BN, BK] with their rows' (scale, 24 + zero) → (v - 8 - z) * s rounded to DTYPE."""
    # (f - zc) * s as one FMA: f * s and zc * s are exact in fp32, so this rounds once, like the reference
    return (f * s[:, None] - (zc * s)[:, None]).to(DTYPE)


@triton.jit
def tile_activations(
    x_ptr, rm, k0, M, K, stride_xm, BK: tl.constexpr, FRAG: tl.constexpr, KW: tl.constexpr, X_FRAG: tl.constexpr = False
):  # fmt: skip
    """[BM, BK] activations of K tile k0: in column order, or in ``frag_permuted`` order (``FRAG``; stored in it
    already where ``X_FRAG``: ``gemv.frag_activations``)."""
    rk = k0 + tl.arange(0, BK)
    xk = tl.load(x_ptr + rm[:, None] * stride_xm + rk[None, :], mask=(rm[:, None] < M) & (rk[None, :] < K), other=0)
    if FRAG and not X_FRAG:
        xk = tiles_in_frag_order(xk, xk.shape[0], BK, KW)
    return xk


@triton.jit
def tile_product(a, b, DT: tl.constexpr, SWAP: tl.constexpr):
    """[BM, BK] activations x [BN, BK] weights on the tensor cores: [BM, BN] sums, or with ``SWAP`` [BN, BM] (the
    weights as the MMA's left operand)."""
    PRECISION: tl.constexpr = "ieee" if DT == tl.float32 else None
    if SWAP:  # one return: Triton types every return statement, also in branches a constexpr removes
        product = tl.dot(b, tl.trans(a), input_precision=PRECISION)
    else:
        product = tl.dot(a, tl.trans(b), input_precision=PRECISION)
    return product


@triton.jit
def tensor_core_sums(
    x_ptr, w_ptr, ws_ptr, wz_ptr, rm, rn, k_lo, k_hi, M, N, K, stride_xm, stride_wn, stride_sn, magic,
    W_FMT: tl.constexpr, A_MODE: tl.constexpr, GROUP: tl.constexpr, HAS_ZERO: tl.constexpr, BM: tl.constexpr,
    BN: tl.constexpr, BK: tl.constexpr, PDL: tl.constexpr, SWAP: tl.constexpr, POST: tl.constexpr,
    FRAG: tl.constexpr = 0, CUDA: tl.constexpr = False, xs_ptr=None, p_ptr=None, SMOOTH: tl.constexpr = False,
    X_MAX: tl.constexpr = False, X_FRAG: tl.constexpr = False, g_ptr=None, eps=0.0, inv_k=0.0,
    NORM: tl.constexpr = 0, ONE_ROW: tl.constexpr = False,
):  # fmt: skip
    """Tensor cores: [BM, BK] activations x [BK, BN] weights dequantized in registers (W8A8: int8 or e4m3
    operands as stored, int32 / fp32 accumulation) → [BM, BN] fp32 sums over the K slice [k_lo, k_hi). Rows
    arrive normalized and quantized (``normalize_rows`` ran first: in every program of this grid the row
    statistics would be read again). ``SWAP``: the product runs as weights x activations^T, so the weight tile
    (64+ rows) is the MMA's M side instead of 16 activation rows (the small-M trick of swapped GEMM operands);
    transposed back once at the end. ``POST`` (int4): the tensor cores multiply the codes 16 + v (exact in bf16)
    and each K tile's sums take the group scale and zero after: (q - (24 + z) sum(x)) * s on [BM, BN] values,
    not one FMA per weight. ``X_MAX`` (W8A8): the rows arrive as floats with their absolute maxima after the
    pre-scale at ``xs_ptr`` (``ROW_MAX`` 1 of the launch that wrote them): each tile is pre-scaled (``SMOOTH``,
    ``p_ptr``) and quantized as it is loaded, as ``normalize_rows`` would have quantized the whole row; with
    ``ONE_ROW`` (M = 1) only the live row is computed, its codes then placed in the tile's first row (the other rows
    of the MMA's 16 are zero: quantizing them too cost 3.2x a program's instructions on the 2b fp8 gate/up tile,
    sm_90 SASS). ``NORM`` 2 (with ``ONE_ROW`` and ``X_MAX``, the maxima those of x g p before the RMSNorm,
    ``g_ptr`` the norm's weight): the norm deferred as ``cuda_core_sums`` defers it -- the codes of x g p, the row's
    squares summed, the sums times rsqrt(mean(x^2) + eps) after the K loop.
    Returns the sums and the rows' activation scales (W8A8; else ones)."""
    in_n = rn < N
    if PDL:
        gdc_wait()
    xscale = tl.full((BM,), 1.0, tl.float32)
    xinv = xscale
    if X_MAX:
        xscale, xinv = token_scale(tl.load(xs_ptr + rm, mask=rm < M, other=0).to(tl.float32), A_MODE, CUDA)
    elif A_MODE != 0:
        xscale = tl.load(xs_ptr + rm, mask=rm < M, other=0).to(tl.float32)
    # what the tensor cores multiply: int8 / e4m3 for W8A8, else the activations' float type
    if A_MODE == 1:
        DT: tl.constexpr = tl.int8
    elif A_MODE == 2:
        DT: tl.constexpr = tl.float8e4nv
    else:
        DT: tl.constexpr = x_ptr.dtype.element_ty
    if SWAP:
        ACC_SHAPE: tl.constexpr = (BN, BM)
    else:
        ACC_SHAPE: tl.constexpr = (BM, BN)
    if A_MODE == 1:
        acc = tl.zeros(ACC_SHAPE, dtype=tl.int32)
    else:
        acc = tl.zeros(ACC_SHAPE, dtype=tl.float32)
    # fragment order: the kWidth Triton gives the 16-bit MMA operands (read off its TTGIR, 3.6 and 3.8): 2 for
    # wgmma's register operand; for mma.sync 64 / the bits of the narrowest type the operand is made from: 4 from the
    # int32 words, 8 once the int8 zero points take part
    KW: tl.constexpr = 2 if SWAP else (8 if HAS_ZERO else 4)
    # int4 fragment order on warpgroup MMAs: the group values of a K tile load one iteration before it (Triton's
    # pipeliner leaves these 1-2 byte loads in the loop, where each iteration waited on them before its
    # dequantization: sm_90 PTX of the shipped tiles). Not on mma.sync tiles, where the values carried to the next
    # iteration went through shared memory there (sm_90 SASS, tests/engine/test_kernels_sass.py).
    AHEAD: tl.constexpr = W_FMT == 3 and FRAG and SWAP
    if W_FMT == 3 and FRAG:
        rows = frag_rows(tl.program_id(0) * BN, BN, FRAG, SWAP)
    if AHEAD:
        z, scale = int4_frag_group(ws_ptr, wz_ptr, rows, N, k_lo, stride_sn, BK, GROUP, FRAG, SWAP, HAS_ZERO, not POST)
        if POST:
            s, _ = int4_group(ws_ptr, wz_ptr, rn, in_n, k_lo, stride_sn, GROUP, False)
    ssq = tl.zeros((BK,), dtype=tl.float32)  # NORM 2: the live row's squares, a lane's share
    for k0 in range(k_lo, k_hi, BK):
        if X_MAX and ONE_ROW:  # the live row alone, then its codes as the tile's first row
            rk = k0 + tl.arange(0, BK)
            x0 = tl.load(x_ptr + rk, mask=rk < K, other=0).to(tl.float32)
            v0 = row_values(x0, x_ptr.dtype.element_ty, g_ptr, p_ptr, rk, K, 1.0, NORM, SMOOTH)
            q0 = quantized(v0, pick(xscale, 0), pick(xinv, 0), A_MODE).to(DT)  # narrowed before it is broadcast
            if NORM == 2:
                ssq += x0 * x0
            xk = tl.where((tl.arange(0, BM) == 0)[:, None], q0[None, :], tl.zeros((BM, BK), DT))
        else:
            xk = tile_activations(x_ptr, rm, k0, M, K, stride_xm, BK, FRAG, KW, X_FRAG)
        if X_MAX and not ONE_ROW:
            rk = (k0 + tl.arange(0, BK))[None, :]
            v = row_values(xk.to(tl.float32), x_ptr.dtype.element_ty, p_ptr, p_ptr, rk, K, 1.0, False, SMOOTH)
            xk = quantized(v, xscale[:, None], xinv[:, None], A_MODE)
        elif A_MODE == 2 and not X_MAX:
            xk = xk.to(tl.float8e4nv, bitcast=True)
        xk = xk.to(DT)
        if W_FMT == 3 and FRAG:
            # fragment order: codes (post) or weights made in bf16 pairs from the words (not in the interpreter)
            BF16: tl.constexpr = CUDA and DT == tl.bfloat16 and (POST or ws_ptr.dtype.element_ty == tl.bfloat16)
            k_meta = k0
            if AHEAD:  # the next tile's; the last tile's "next" reloads a tile of the weights' own
                k_meta = tl.minimum(k0 + BK, K - BK)
            z_m, scale_m = int4_frag_group(
                ws_ptr, wz_ptr, rows, N, k_meta, stride_sn, BK, GROUP, FRAG, SWAP, HAS_ZERO, not POST
            )  # fmt: skip
            if POST:
                s_m, _ = int4_group(ws_ptr, wz_ptr, rn, in_n, k_meta, stride_sn, GROUP, False)
            if not AHEAD:
                z, scale = z_m, scale_m
                if POST:
                    s = s_m
            w = int4_frag_tile(w_ptr, z, scale, rows, N, k0, stride_wn, magic, BK, FRAG, SWAP, KW, not POST, BF16, DT)
            q = tile_product(xk, w, DT, SWAP)
            if POST:  # the codes had their zero points: the sums take the scales
                if SWAP:
                    q = q * s[:, None]
                else:
                    q = q * s[None, :]
            acc += q
            if AHEAD:
                z, scale = z_m, scale_m
                if POST:
                    s = s_m
        elif W_FMT == 3:
            f = int4_codes(w_ptr, rn, in_n, k0, stride_wn, magic, BK)
            s, zc = int4_group(ws_ptr, wz_ptr, rn, in_n, k0, stride_sn, GROUP, HAS_ZERO)
            if POST:
                q = tile_product(xk, f.to(DT), DT, SWAP)
                xsum = tl.sum(xk.to(tl.float32), axis=1)
                if SWAP:
                    acc += (q - zc[:, None] * xsum[None, :]) * s[:, None]
                else:
                    acc += (q - xsum[:, None] * zc[None, :]) * s[None, :]
            else:
                acc += tile_product(xk, dequantized(f, s, zc, DT), DT, SWAP)
        else:
            rk = k0 + tl.arange(0, BK)
            w = tl.load(w_ptr + rn[:, None] * stride_wn + rk[None, :], mask=in_n[:, None] & (rk[None, :] < K), other=0)
            if W_FMT == 2:
                w = w.to(tl.float8e4nv, bitcast=True)
            acc += tile_product(xk, w.to(DT), DT, SWAP)
    if SWAP:
        sums = tl.trans(acc.to(tl.float32))
    else:
        sums = acc.to(tl.float32)
    if NORM == 2:  # Qwen2RMSNorm's multiplier of the live row, as rms_multiplier computes it, on the sums
        sums = sums * tl.math.rsqrt(tl.sum(ssq, axis=0) * inv_k + eps)
    return sums, xscale


@triton.jit
def gemv_kernel(
    x_ptr,
    xs_ptr,
    w_ptr,
    ws_ptr,
    wz_ptr,
    b_ptr,
    g_ptr,
    p_ptr,
    r_ptr,
    y_ptr,
    part_ptr,
    sem_ptr,
    xpart,
    row_max,
    M,
    N,
    K,
    K_SPLIT,
    stride_xm,
    stride_wn,
    stride_sn,
    stride_rm,
    stride_ym,
    eps,
    inv_k,
    magic,
    W_FMT: tl.constexpr,
    A_MODE: tl.constexpr,
    X_PRE: tl.constexpr,
    NORM: tl.constexpr,
    SMOOTH: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    ACT: tl.constexpr,
    RESID: tl.constexpr,
    GROUP: tl.constexpr,
    HAS_ZERO: tl.constexpr,
    SPLIT: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    VEC: tl.constexpr,
    EVEN_N: tl.constexpr,
    EVEN_K: tl.constexpr,
    PDL: tl.constexpr,
    PIPE: tl.constexpr,
    ROW_SCALE: tl.constexpr,
    DOT: tl.constexpr,
    CUDA: tl.constexpr,
    SWAP: tl.constexpr = False,
    POST: tl.constexpr = False,
    FRAG: tl.constexpr = 0,
    X_FRAG: tl.constexpr = False,
    XPART: tl.constexpr = 0,
    STATIC_K: tl.constexpr = 0,
    STATIC_WN: tl.constexpr = 0,
    STATIC_SN: tl.constexpr = 0,
    TAIL_VEC: tl.constexpr = 0,
    STAGES: tl.constexpr = 1,
    ROW_MAX: tl.constexpr = 0,
    ROW_MAX_SMOOTH: tl.constexpr = False,
    CLEAR_N: tl.constexpr = 0,
    PREFETCH: tl.constexpr = 0,
    ONE_ROW: tl.constexpr = False,
    UNMASKED: tl.constexpr = False,
):
    """One program = BN weight rows x BM activation rows x one K slice (grid: N tiles, M tiles, K slices):
    the sums on tensor cores (``DOT``) or CUDA cores, then ``finish`` (split-K combine and epilogue). ``xpart``:
    the decode attention's partials (``partials_triton``), x's source where ``XPART`` (CUDA cores, float rows).
    W8A8 rows quantized without a row kernel of their own (``gemv``'s ``row_max_out`` / ``x_row_max``):
    ``ROW_MAX`` 1, the launch that makes the rows gathers each output row's absolute maximum (after the next
    linear's pre-scale ``row_max[1]`` where ``ROW_MAX_SMOOTH``) into ``row_max[0]`` by atomic max, and its first
    program zeroes ``CLEAR_N`` values at ``row_max[2]`` (the buffer the next layer's launch gathers into);
    ``ROW_MAX`` 2, the launch that reads them quantizes its float rows with the maxima at ``xs_ptr``; 3, both (a
    launch reading its rows' maxima and gathering its output's)."""
    if PDL == PDL_EARLY:
        gdc_launch_dependents()
    pid_n = tl.program_id(0)
    pid_m = tl.program_id(1)
    pid_k = tl.program_id(2)
    if STATIC_K:  # the CUDA-core kernel's K and row strides as constants (gemv.static_shape)
        K = STATIC_K
        stride_wn = STATIC_WN
        stride_sn = STATIC_SN
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    k_lo = pid_k * K_SPLIT
    k_hi = tl.minimum(k_lo + K_SPLIT, K)
    if DOT:
        tl.static_assert(XPART == 0, "the tensor-core GEMV reads x as it is stored")
        tl.static_assert(
            NORM == 0 or (NORM == 2 and ROW_MAX >= 2 and ONE_ROW),
            "the tensor-core GEMV takes rows normalized by normalize_rows (or one W8A8 row with its maxima)",
        )
        tl.static_assert(
            X_PRE or ROW_MAX >= 2 or (A_MODE == 0 and SMOOTH == 0),
            "the tensor-core GEMV takes W8A8 rows quantized by normalize_rows or with their maxima (ROW_MAX 2)",
        )
        y, xscale = tensor_core_sums(
            x_ptr, w_ptr, ws_ptr, wz_ptr, rm, rn, k_lo, k_hi, M, N, K, stride_xm, stride_wn, stride_sn, magic,
            W_FMT, A_MODE, GROUP, HAS_ZERO, BM, BN, BK, PDL, SWAP, POST, FRAG, CUDA, xs_ptr, p_ptr, SMOOTH,
            ROW_MAX >= 2, X_FRAG, g_ptr, eps, inv_k, NORM, ONE_ROW,
        )  # fmt: skip
    else:
        tl.static_assert(XPART == 0 or (A_MODE == 0 and NORM == 0 and SMOOTH == 0), "partials: float rows as they are")
        xsrc = (x_ptr, g_ptr, p_ptr, M, K, stride_xm, xpart[0], xpart[1], xpart[2], xpart[3], xpart[4], xpart[5],
                xpart[6], xpart[7], xpart[8])  # fmt: skip
        y, xscale = cuda_core_sums(
            xsrc, xs_ptr, w_ptr, ws_ptr, wz_ptr, rm, rn, k_lo, k_hi, N, stride_wn, stride_sn, eps, inv_k, magic,
            W_FMT, A_MODE, X_PRE, NORM, SMOOTH, GROUP, HAS_ZERO, BM, BN, BK, VEC, EVEN_N and EVEN_K, PDL, PIPE, CUDA,
            XPART, TAIL_VEC, STAGES, ROW_MAX >= 2, PREFETCH, UNMASKED,
        )  # fmt: skip
    if PDL == PDL_LATE:
        gdc_launch_dependents()
    if CLEAR_N:  # (after the wait: the layer whose maxima these were has finished reading them)
        if (pid_n == 0) & (pid_m == 0) & (pid_k == 0):
            tl.store(row_max[2] + tl.arange(0, CLEAR_N), tl.zeros((CLEAR_N,), tl.float32))
    finish(
        y, rm, rn, pid_n, pid_m * tl.num_programs(0) + pid_n, pid_k, tl.num_programs(2), M, N, part_ptr, sem_ptr,
        ws_ptr, xscale, b_ptr, r_ptr, y_ptr, stride_rm, stride_ym, ROW_SCALE, A_MODE, HAS_BIAS, ACT, RESID, SPLIT, BN,
        row_max[0], row_max[1], ROW_MAX % 2 == 1, ROW_MAX_SMOOTH,
    )  # fmt: skip


@triton.jit
def dequant_int4_kernel(
    w_ptr,
    ws_ptr,
    wz_ptr,
    out_ptr,
    N,
    stride_wn,
    stride_sn,
    stride_on,
    magic,
    GROUP: tl.constexpr,
    HAS_ZERO: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
):
    """The [N, K] weight of a packed int4 tensor in out's dtype (for the dequantize-then-cuBLAS prefill);
    one tile of BN rows x BK (<= GROUP) columns per program, rounded exactly as w4's reference rounds."""
    rn = tl.program_id(0) * BN + tl.arange(0, BN)
    k0 = tl.program_id(1) * BK
    in_n = rn < N
    tile = int4_tile(
        w_ptr, ws_ptr, wz_ptr, rn, in_n, k0, stride_wn, stride_sn, magic, GROUP, HAS_ZERO, BK, out_ptr.dtype.element_ty
    )
    tl.store(out_ptr + rn[:, None] * stride_on + (k0 + tl.arange(0, BK))[None, :], tile, mask=in_n[:, None])


@triton.jit
def w4_group_terms_kernel(
    ws_ptr, wz_ptr, scale_t_ptr, zero_t_ptr, N, G, HAS_ZERO: tl.constexpr, BN: tl.constexpr, BG: tl.constexpr
):
    """CUTLASS's int4 group terms (``cutlass_gemm.w4_group_terms``) in one pass: w4's [N, G] bf16 scales and int8
    zero points → [G, N] bf16 scales and zero terms -(zero + 8) * scale, the product in fp32 (exact: a bf16 times an
    integer below 16) rounded once to bf16 (ties to even, as the eager expression)."""
    rn = tl.program_id(0) * BN + tl.arange(0, BN)
    rg = tl.program_id(1) * BG + tl.arange(0, BG)
    inside = (rn < N)[:, None] & (rg < G)[None, :]
    src = rn[:, None] * G + rg[None, :]
    scale = tl.load(ws_ptr + src, mask=inside, other=0.0).to(tl.float32)
    offset = 8.0
    if HAS_ZERO:
        offset = tl.load(wz_ptr + src, mask=inside, other=0).to(tl.float32) + 8.0
    dst = rg[None, :] * N + rn[:, None]
    tl.store(scale_t_ptr + dst, scale.to(tl.bfloat16), mask=inside)
    tl.store(zero_t_ptr + dst, (-offset * scale).to(tl.bfloat16), mask=inside)


@triton.jit
def w4_shuffle_kernel(src_ptr, out_ptr, N, KW, NBL: tl.constexpr, KBL: tl.constexpr):
    """w4's packed int4 [N, KW] words → CUTLASS's shuffled layout (``cutlass_gemm.w4_shuffle_reference`` says
    which nibble goes where) for NBL x KBL atoms of 16 rows x 16 columns: the source tile loaded whole (rows of
    2 KBL words, coalesced), split as (atom, v1, t1) x (atom, v2) and each word's byte t0 holding the two nibbles
    (v0 = 0 low, 1 high) of thread t0 + 4 t1's output word, at slots v1 + 2 v2 and 4 + v1 + 2 v2; the slots are
    disjoint bits, so the sums over v1 and v2 are ORs. (A gather of four words per output word read each row's
    sectors eight times over: 272 us for the 7b gate/up weight on the H200.)"""
    rows = tl.program_id(0) * NBL * 16 + tl.arange(0, NBL * 16)
    cols = tl.program_id(1) * KBL * 2 + tl.arange(0, KBL * 2)
    inside = (rows < N)[:, None] & (cols < KW)[None, :]
    src = tl.load(src_ptr + rows[:, None] * KW + cols[None, :], mask=inside, other=0)
    src = tl.reshape(src, (NBL, 2, 8, KBL, 2, 1))  # (atom n, v1, t1, atom k, v2, -)
    t0 = tl.arange(0, 4)[None, None, None, None, None, :]
    v1 = tl.arange(0, 2)[None, :, None, None, None, None]
    v2 = tl.arange(0, 2)[None, None, None, None, :, None]
    byte = (src >> (8 * t0)) & 0xFF
    slot = 4 * (v1 + 2 * v2)
    word = tl.sum(tl.sum(((byte & 0xF) << slot) | ((byte >> 4) << (slot + 16)), axis=4), axis=1)  # (n, t1, k, t0)
    nb = tl.program_id(0) * NBL + tl.arange(0, NBL)[:, None, None, None]
    t1 = tl.arange(0, 8)[None, :, None, None]
    kb = tl.program_id(1) * KBL + tl.arange(0, KBL)[None, None, :, None]
    t0 = tl.arange(0, 4)[None, None, None, :]
    nbs = (N + 15) // 16
    tl.store(out_ptr + (nb + nbs * kb) * 32 + t0 + 4 * t1, word, mask=(nb * 16 < N) & (kb * 2 < KW))


@triton.jit
def dequant_w8_kernel(
    w_ptr, ws_ptr, out_ptr, N, K, stride_wn, stride_on, IS_FP8: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr
):
    """out = q * scale (per row) for a BN x BK tile of int8 / e4m3 (uint8 bits) weights, rounded once to out's
    dtype (the W8A16 dequantize-then-cuBLAS prefill)."""
    rn = tl.program_id(0) * BN + tl.arange(0, BN)
    rk = tl.program_id(1) * BK + tl.arange(0, BK)
    mask = (rn < N)[:, None] & (rk < K)[None, :]
    w = tl.load(w_ptr + rn[:, None] * stride_wn + rk[None, :], mask=mask, other=0)
    if IS_FP8:
        w = w.to(tl.float8e4nv, bitcast=True)
    s = tl.load(ws_ptr + rn, mask=rn < N, other=0).to(tl.float32)
    w = (w.to(tl.float32) * s[:, None]).to(out_ptr.dtype.element_ty)
    tl.store(out_ptr + rn[:, None] * stride_on + rk[None, :], w, mask=mask)
