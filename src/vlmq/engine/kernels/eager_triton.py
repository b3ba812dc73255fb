"""Triton device functions that reproduce eager PyTorch's rounding, for the kernels that must match it bit for bit
(RoPE + KV write, the GEMV row prologue). Imported only where a kernel runs (a GPU, or Triton's interpreter)."""

import triton
import triton.language as tl


@triton.jit
def round_to_bf16(v, HW_ROUNDING: tl.constexpr):
    """fp32 values → the nearest bf16 values (ties to even), as fp32, in a form the compiler cannot contract with a
    following add (see rope_kv_triton.rotate_rows): integer arithmetic, the default and the only form Triton's
    interpreter runs. ``HW_ROUNDING`` (a GPU's compile only; the fused attention's candidate ``rounding=1``): the
    hardware's conversion, two values an instruction (``cvt.rn.bf16x2.f32``, inline PTX: opaque to LLVM), then each
    widened back by a shift or a mask: 1.5 instructions a value where the integer form takes ~5 (sm_90 SASS; the
    fused decode attention rounds 64 products a thread on its path from the PDL wait to its first dot). The same
    rounding for every finite value; a NaN may come out of the integer form as an infinity."""
    if HW_ROUNDING:
        return tl.inline_asm_elementwise(
            "{ .reg .b32 t; cvt.rn.bf16x2.f32 t, $3, $2; shl.b32 $0, t, 16; and.b32 $1, t, 0xffff0000; }",
            "=r,=r,r,r",
            [v],
            dtype=tl.float32,
            is_pure=True,
            pack=2,
        )
    bits = v.to(tl.int32, bitcast=True)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) & -65536).to(tl.float32, bitcast=True)


@triton.jit
def scalar_quotient(x, d: tl.constexpr, CUDA: tl.constexpr):
    """fp32 ``x / d`` for a Python-float divisor as PyTorch computes it on the tensor's device: CUDA multiplies
    by the fp32 reciprocal of d (ATen's div_true_kernel_cuda), CPUs divide (IEEE). The two differ by an ulp
    now and then, which matters where the quotient is a quantization scale: amax / 127.5 lands the largest
    value on the tie -127.5, where one ulp decides between -127 and -128."""
    if CUDA:
        return x * (1.0 / d)
    return tl.div_rn(x, tl.full(x.shape, d, tl.float32))


@triton.jit
def exact_quotient(x, d, inv):
    """fp32 ``x / d`` correctly rounded (what IEEE division, eager PyTorch's ``x / d`` on a tensor, gives), from
    ``inv`` = the correctly rounded 1 / d (broadcastable with x): q = x * inv is within an ulp, the residual
    x - q * d is exact in one FMA, and q + residual * inv rounds to the quotient (Markstein's theorem; normal
    range: x / d is a quantization code here, |x / d| <= ~448 and d >= 1e-12). Two FMAs and a multiply where
    ``tl.div_rn`` issues a reciprocal on the quarter-rate special-function unit and a slow-path check per value
    (H200: the e4m3 row quantization took 1.7x the int8 one at 300 rows x 8960, 2026-11-30g profiles; with this,
    300 x 17920 SiLU + rows 22.3 -> 15.0 us, int8 17.5: docs/benchmarks.md, eighth session). Where the residual is
    0, q is the quotient itself (also the sign of x = -0)."""
    q = x * inv
    r = tl.fma(q, -d, x)  # not -q: Triton 3.6 makes -q an fma(-inv, x, +0), which loses the sign of -0
    return tl.where(r == 0.0, q, tl.fma(r, inv, q))
