"""Launchers for ``eager_triton``'s device functions alone: ``exact_quotient``, for the tests that check it against
IEEE division (the interpreter tests' subprocess and the GPU tests), and ``round_to_bf16`` in either form, for the
GPU test that checks both against PyTorch's cast. Not a test module; imports Triton, so import it lazily."""

import torch
import triton
import triton.language as tl

from vlmq.engine.kernels.eager_triton import exact_quotient, round_to_bf16


@triton.jit
def quotient_kernel(x_ptr, d_ptr, out_ptr, N, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + i, mask=i < N, other=0.0)
    d = tl.load(d_ptr + i, mask=i < N, other=1.0)
    inv = tl.div_rn(tl.full(d.shape, 1.0, tl.float32), d)
    tl.store(out_ptr + i, exact_quotient(x, d, inv), mask=i < N)


def exact_quotients(x: torch.Tensor, d: torch.Tensor, block: int = 4096) -> torch.Tensor:
    out = torch.empty_like(x)
    quotient_kernel[(triton.cdiv(x.numel(), block),)](x, d, out, x.numel(), BLOCK=block, enable_fp_fusion=False)
    return out


def hard_quotient_cases(n: int, seed: int = 0, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(x, d) fp32 pairs as the FP8 quantizations divide them: d = amax / 448 for bf16 amax over 2^-30..2^20
    (floored at 1e-12), x bf16 values up to amax in magnitude, either side of zero; half of them placed on, or
    an ulp beside, x = m * d for the midpoints m between neighbouring e4m3 values (where an ulp of the quotient
    decides the code), and some zeros of both signs."""
    g = torch.Generator().manual_seed(seed)
    amax = torch.exp2(torch.rand(n, generator=g) * 50 - 30).bfloat16().float()
    d = torch.clamp(amax * (1.0 / 448.0), min=1e-12)
    x = ((torch.rand(n, generator=g) * 2 - 1) * amax).bfloat16().float()
    codes = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float()
    grid = codes[codes.isfinite() & (codes >= 0)].unique()
    mids = (grid[1:] + grid[:-1]) / 2
    m = mids[torch.randint(len(mids), (n // 2,), generator=g)] * torch.where(
        torch.rand(n // 2, generator=g) < 0.5, -1, 1
    )
    near = m * d[: n // 2]
    step = torch.randint(-1, 2, (n // 2,), generator=g)
    x[: n // 2] = torch.nextafter(near, near + step * torch.where(near == 0, 1.0, near.abs()))
    x[-4:-2], x[-2:] = 0.0, -0.0
    return x.to(device), d.to(device)


@triton.jit
def bf16_rounding_kernel(x_ptr, out_ptr, N, HW_ROUNDING: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + i, mask=i < N, other=0.0)
    tl.store(out_ptr + i, round_to_bf16(x, HW_ROUNDING), mask=i < N)


def rounded_to_bf16(x: torch.Tensor, hw_rounding: bool, block: int = 4096) -> torch.Tensor:
    out = torch.empty_like(x)
    bf16_rounding_kernel[(triton.cdiv(x.numel(), block),)](x, out, x.numel(), HW_ROUNDING=hw_rounding, BLOCK=block)
    return out


def hard_rounding_cases(n: int, seed: int = 0, device="cpu") -> torch.Tensor:
    """fp32 values for a rounding to bf16: random finite bit patterns of both signs (normal and subnormal), a
    quarter of them exactly on a tie between two bf16 values (low 16 bits 0x8000: ties to even decide), a quarter
    an ulp either side of a tie, and the edges: ±0, ±inf, the largest finite values (they round to infinity)."""
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 0x7F800000, (n,), generator=g, dtype=torch.int64)  # finite magnitudes
    q = n // 4
    bits[:q] = (bits[:q] & ~0xFFFF) | 0x8000
    bits[q : 2 * q] = ((bits[q : 2 * q] & ~0xFFFF) | 0x8000) + torch.randint(0, 2, (q,), generator=g) * 2 - 1
    bits |= torch.randint(0, 2, (n,), generator=g, dtype=torch.int64) << 31
    edges = [0, 1 << 31, 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000, 1]
    bits[-len(edges) :] = torch.tensor(edges, dtype=torch.int64)
    signed = torch.where(bits >= 1 << 31, bits - (1 << 32), bits).to(torch.int32)  # the same 32 bits
    return signed.view(torch.float32).to(device)
