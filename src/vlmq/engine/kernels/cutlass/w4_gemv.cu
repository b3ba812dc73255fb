// vlmq's int4 decode GEMV on the tensor cores: out[M, N] = epilogue(x[M, K] @ w^T) for M <= 16 activation rows,
// w the packed int4 of w4.py as stored (compressed-tensors: [N, K / 8] int32, column 8i + j in bits 4j..4j+3 of word
// i, the nibble q + 8), group scales [N, K / group] bf16, optional int8 zero points of the same shape.
//
// Why (docs/benchmarks.md, eighteenth session): the CUDA-core GEMV issues ~4.2 instructions a weight on the 7b
// gate/up and is bound by issuing them (Nsight: 66 % of issue slots, 50 % of DRAM peak). Here the multiply-adds run
// on the tensor cores (mma.sync m16n8k16, fp32 sums), sixteen weight rows the MMA's A operand and the activations
// its 8-column B operand (columns past M repeat row M - 1 and are never stored; M > 8 takes a second MMA on the same
// weights), and the eight
// nibbles of a word become four bf16 pairs by three shifts and four LOP3s into the bits of 128.0 (no int -> float
// conversion) and one bf16x2 add a pair (q - z, exact), one more multiply making (q - z) * s rounded once as w4's
// reference rounds it. Marlin's idea (IST-DASLab) in vlmq's layout. Measured (docs/benchmarks.md, twenty-eighth
// session): exact, faster than the Triton kernel on five 2b / 7b shapes, slower on the 7b's large one-row ones
// (latency-bound: 15 % occupancy), so the tile table ships no entry for it yet.
//
// No repacking: K is permuted inside each lane instead. For the MMA, lane (g, t) (g = lane / 4, t = lane % 4) holds
// the A values of k = 2t, 2t + 1, 2t + 8, 2t + 9 and the B values of the same k, so any bijection between those four
// slots and four physical columns that depends on t alone leaves the sum unchanged. Lane t of a warp reads words
// 4t .. 4t + 3 of each 128-column chunk of its weight rows g and g + 8 (a 128-bit load each; a group of 32 or more
// holds a lane's 32 columns), and the activations at the same columns; word j's nibbles (0, 4), (1, 5) feed one
// MMA, (2, 6), (3, 7) the next, as the bf16 pairs the LOP3 makes.
//
// A CTA owns 16 * RB weight rows; its NW warps take its 128-column chunks in turn (chunk c: warp c % NW) and sum
// through shared memory at the end; where row blocks are too few for the SMs, K is also split over CTAs (fp32
// partials, the last slice to arrive finishes the block: gemv_triton.finish's pattern). Each warp
// keeps PF chunks of weights in flight (loaded before the programmatic-dependent-launch wait: weights do not depend
// on the previous kernel). Epilogue in fp32: + bias, SiLU(gate) * up over interleaved rows (gemv.interleave_rows),
// + residual, one rounding to bf16 (gemv_triton.finish's order).
#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace vlmq_w4 {

constexpr int CHUNK = 128;                // K columns a warp takes at once: 4 lanes x 4 words x 8 nibbles
constexpr uint32_t MAGIC = 0x43004300u;   // two bf16 128.0: a nibble in their low mantissa bits gives 128 + v
constexpr uint32_t NIBBLES = 0x000F000Fu;  // nibbles 0 and 4 of a word, in the two halves
constexpr uint32_t ONE2 = 0x3F803F80u;     // two bf16 1.0
constexpr uint32_t NEG_ZERO2 = 0x80008000u;  // x * s + -0 rounds x * s once and keeps the sign of a zero product

struct Params {
  const uint16_t* x;  // [M, K] bf16, rows ldx apart
  const int32_t* w;   // [N, K / 8]
  const uint16_t* scale;  // [N, K / group] bf16, rows lds apart
  const int8_t* zero;     // same shape and strides, or null (symmetric)
  const uint16_t* bias;   // [N] bf16 or null
  const uint16_t* residual;  // [M, N_out] bf16 or null, rows ldr apart
  uint16_t* out;             // [M, N_out] bf16, rows ldo apart (N_out = N / 2 with SiLU * mul)
  int m, n, k, group_shift, act;
  long long ldx, ldw, lds, ldr, ldo;
  int slices;   // CTAs along K for each row block (blockIdx.y); > 1: partial sums through part and sems
  float* part;  // [slices, M, N] fp32 partial sums (slices > 1)
  int* sems;    // a zeroed counter per row block: the last slice to arrive sums the partials and resets it
};

__device__ __forceinline__ uint32_t and_or(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t r;
  asm("lop3.b32 %0, %1, %2, %3, 0xea;" : "=r"(r) : "r"(a), "r"(b), "r"(c));  // (a & b) | c
  return r;
}

__device__ __forceinline__ uint32_t fma2(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t r;
  asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
  return r;
}

__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
  uint32_t r;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(sel));
  return r;
}

__device__ __forceinline__ void mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                    uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// weights are read once: past L1 (no allocation), 128 bits a lane
__device__ __forceinline__ uint4 load_stream(const int32_t* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// activations come from the previous kernel: a coherent load, which ptxas keeps after griddepcontrol.wait (it may
// move ld.global.nc -- memory it takes as read-only for the whole kernel -- above the wait: branch next/w4-mma-lean's
// form did, once the addresses no longer hung on a loop cursor, and the engine's int4 answers changed under PDL)
__device__ __forceinline__ uint4 load_x(const uint16_t* p) {
  uint4 v;
  asm volatile("ld.global.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}

__device__ __forceinline__ float bf16_float(uint16_t bits) { return __uint_as_float(uint32_t(bits) << 16); }

__device__ __forceinline__ uint16_t float_bf16(float v) {
  __nv_bfloat16 b = __float2bfloat16_rn(v);
  return *reinterpret_cast<uint16_t*>(&b);
}

// activation pairs (x[2h], x[2h + 4]) and (x[2h + 1], x[2h + 5]) of a lane's 8 columns: the A values that meet the
// weight pairs (nibbles 2h, 2h + 4) and (2h + 1, 2h + 5) of the same word
struct XPairs {
  uint32_t p[4];
};

__device__ __forceinline__ XPairs x_pairs(uint4 v) {
  return {{prmt(v.x, v.z, 0x5410), prmt(v.x, v.z, 0x7632), prmt(v.y, v.w, 0x5410), prmt(v.y, v.w, 0x7632)}};
}

template <int RB, int PF, bool M16>
struct Slots {
  uint4 w[PF][RB][2];     // words 4t .. 4t + 3 of the chunk in the lane's weight rows g and g + 8 of each block
  uint16_t s[PF][RB][2];  // their group scales
  int8_t z[PF][RB][2];    // and zero points
  uint4 x[PF][M16 ? 2 : 1][4];  // the lane's 32 activations of the chunk, row g (and g + 8)
};

// POST (groups a multiple of CHUNK): the MMAs multiply the exact codes q - z and each chunk's fp32 sums take their
// rows' group scale, one FMA a sum, instead of a bf16x2 multiply a weight pair (w4's reference rounds (q - z) * s
// to bf16 first: the products differ by that rounding, as gemv_triton's ``post`` tiles do).
template <int RB, int NW, int PF, bool M16, bool POST>
__global__ void __launch_bounds__(NW * 32) w4_gemv_kernel(Params p) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int n0 = blockIdx.x * (16 * RB);
  // this CTA's chunks: slice blockIdx.y of K's 128-column chunks
  const int all_chunks = (p.k + CHUNK - 1) / CHUNK, per_slice = (all_chunks + p.slices - 1) / p.slices;
  const int first = blockIdx.y * per_slice, chunks = min(all_chunks, first + per_slice);
  const uint32_t nibbles = NIBBLES, magic = MAGIC;  // registers: one LOP3 each

  // This lane's weight rows g and g + 8 of each 16-row block (the MMA's A rows; rows past N read row N - 1, whose
  // sums are never stored) and activation rows g, g + 8 (the B columns; rows past M read row M - 1: their sums land in
  // output columns that are never stored), so the loads of whole chunks need no predicate.
  const int32_t* wp[RB][2];
  const uint16_t* sp[RB][2];
  const int8_t* zp[RB][2];
#pragma unroll
  for (int r = 0; r < RB; ++r) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const long long row = min(n0 + 16 * r + 8 * h + g, p.n - 1);
      wp[r][h] = p.w + row * p.ldw + 4 * t + 16 * (first + warp);
      sp[r][h] = p.scale + row * p.lds;
      zp[r][h] = p.zero ? p.zero + row * p.lds : nullptr;
    }
  }
  const bool has_zero = p.zero != nullptr;  // one uniform test, not a null check a load
  const uint16_t* xp[2] = {p.x + (long long)min(g, p.m - 1) * p.ldx + 32 * t + CHUNK * (first + warp),
                           p.x + (long long)min(g + 8, p.m - 1) * p.ldx + 32 * t + CHUNK * (first + warp)};
  const int shift = p.group_shift;
  const int whole = min(chunks, p.k / CHUNK);  // this slice's chunks that K fills (the rest: one part chunk)
  int col = (first + warp) * CHUNK + 32 * t;    // the next chunk to load: its column at this lane

  Slots<RB, PF, M16> buf;
  // loads the next whole chunk (if any) into slot ``slot`` and moves the cursors on; weights only (``weights``) or
  // activations only
  auto load = [&](int slot, bool weights) {
    if (col >= whole * CHUNK) return;
    if (weights) {
      const unsigned grp = unsigned(col) >> shift;  // 32-bit offsets from pointers kept in registers
#pragma unroll
      for (int r = 0; r < RB; ++r) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          buf.w[slot][r][h] = load_stream(wp[r][h]);
          buf.s[slot][r][h] = __ldg(sp[r][h] + grp);
          buf.z[slot][r][h] = has_zero ? __ldg(zp[r][h] + grp) : int8_t(0);
          wp[r][h] += 16 * NW;
        }
      }
    } else {
#pragma unroll
      for (int b = 0; b < (M16 ? 2 : 1); ++b) {
#pragma unroll
        for (int j = 0; j < 4; ++j) buf.x[slot][b][j] = load_x(xp[b] + 8 * j);
        xp[b] += CHUNK * NW;
      }
      col += CHUNK * NW;
    }
  };
  const int col0 = col;
#pragma unroll
  for (int s = 0; s < PF; ++s) {  // weights before the wait: they do not depend on the previous kernel
    load(s, true);
    col += CHUNK * NW;
  }
  col = col0;
  asm volatile("griddepcontrol.wait;" ::: "memory");  // x and the residual come from the previous kernel
#pragma unroll
  for (int s = 0; s < PF; ++s) load(s, false);

  float acc[RB][M16 ? 2 : 1][4];
#pragma unroll
  for (int r = 0; r < RB; ++r)
#pragma unroll
    for (int b = 0; b < (M16 ? 2 : 1); ++b) acc[r][b][0] = acc[r][b][1] = acc[r][b][2] = acc[r][b][3] = 0.f;

  auto compute = [&](int s) {
    XPairs xa[4], xb[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      xa[j] = x_pairs(buf.x[s][0][j]);
      if (M16) xb[j] = x_pairs(buf.x[s][M16 ? 1 : 0][j]);
    }
#pragma unroll
    for (int r = 0; r < RB; ++r) {
      uint32_t nz[2], s2[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        nz[h] = 0xC300u | uint32_t(8 + buf.z[s][r][h]);  // bf16 -(136 + z): 128 + v - (136 + z) = q - z
        nz[h] |= nz[h] << 16;
        s2[h] = uint32_t(buf.s[s][r][h]) * 0x10001u;  // the group scale in both halves
      }
      float part[M16 ? 2 : 1][4] = {};
      auto& sums = POST ? part : acc[r];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint32_t wg = (&buf.w[s][r][0].x)[j], w8 = (&buf.w[s][r][1].x)[j];
        uint32_t qg[4], q8[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          qg[i] = fma2(and_or(wg >> (4 * i), nibbles, magic), ONE2, nz[0]);  // nibbles i, i + 4: q - z, exact
          q8[i] = fma2(and_or(w8 >> (4 * i), nibbles, magic), ONE2, nz[1]);
          if (!POST) {  // (q - z) * s, rounded once
            qg[i] = fma2(qg[i], s2[0], NEG_ZERO2);
            q8[i] = fma2(q8[i], s2[1], NEG_ZERO2);
          }
        }
        mma(sums[0], qg[0], q8[0], qg[1], q8[1], xa[j].p[0], xa[j].p[1]);
        mma(sums[0], qg[2], q8[2], qg[3], q8[3], xa[j].p[2], xa[j].p[3]);
        if (M16) {
          mma(sums[M16 ? 1 : 0], qg[0], q8[0], qg[1], q8[1], xb[j].p[0], xb[j].p[1]);
          mma(sums[M16 ? 1 : 0], qg[2], q8[2], qg[3], q8[3], xb[j].p[2], xb[j].p[3]);
        }
      }
      if (POST) {
        const float sg = bf16_float(buf.s[s][r][0]), s8 = bf16_float(buf.s[s][r][1]);
#pragma unroll
        for (int b = 0; b < (M16 ? 2 : 1); ++b) {
          acc[r][b][0] = fmaf(part[b][0], sg, acc[r][b][0]);
          acc[r][b][1] = fmaf(part[b][1], sg, acc[r][b][1]);
          acc[r][b][2] = fmaf(part[b][2], s8, acc[r][b][2]);
          acc[r][b][3] = fmaf(part[b][3], s8, acc[r][b][3]);
        }
      }
    }
  };
  // whole rounds of PF chunks (no bounds checks between them, so loads can move ahead), then the rest
  int c = first + warp;
  for (; c + (PF - 1) * NW < whole; c += PF * NW) {
#pragma unroll
    for (int s = 0; s < PF; ++s) {
      compute(s);
      load(s, true);
      load(s, false);
    }
  }
#pragma unroll
  for (int s = 0; s < PF; ++s)
    if (c + s * NW < whole) compute(s);
  // a last chunk that K fills in part (K not a multiple of 128): its warp loads it with the lanes past K as zeros
  const int tail = whole;  // its index, where this slice has it
  if (tail >= first && tail < chunks && (tail - first) % NW == warp) {
    const int tcol = tail * CHUNK + 32 * t;
    const bool in_k = tcol < p.k;
    const int grp = min(tcol, p.k - 1) >> shift;
#pragma unroll
    for (int r = 0; r < RB; ++r) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const long long row = min(n0 + 16 * r + 8 * h + g, p.n - 1);
        buf.w[0][r][h] = in_k ? load_stream(p.w + row * p.ldw + (tcol >> 3)) : make_uint4(0, 0, 0, 0);
        buf.s[0][r][h] = __ldg(p.scale + row * p.lds + grp);
        buf.z[0][r][h] = p.zero ? __ldg(p.zero + row * p.lds + grp) : int8_t(0);
      }
    }
#pragma unroll
    for (int b = 0; b < (M16 ? 2 : 1); ++b) {
      const uint16_t* xr = p.x + (long long)min(g + 8 * b, p.m - 1) * p.ldx + tcol;
#pragma unroll
      for (int j = 0; j < 4; ++j) buf.x[0][b][j] = in_k ? load_x(xr + 8 * j) : make_uint4(0, 0, 0, 0);
    }
    compute(0);
  }

  // the warps' sums: lane (g, t) holds weight rows g and g + 8 of each block for activation rows 2t, 2t + 1
  // (and 8 + 2t, 9 + 2t)
  constexpr int MR = M16 ? 16 : 8;
  __shared__ float red[NW][RB][16][MR];
#pragma unroll
  for (int r = 0; r < RB; ++r) {
#pragma unroll
    for (int b = 0; b < (M16 ? 2 : 1); ++b) {
      red[warp][r][g][8 * b + 2 * t] = acc[r][b][0];
      red[warp][r][g][8 * b + 2 * t + 1] = acc[r][b][1];
      red[warp][r][g + 8][8 * b + 2 * t] = acc[r][b][2];
      red[warp][r][g + 8][8 * b + 2 * t + 1] = acc[r][b][3];
    }
  }
  __syncthreads();
  asm volatile("griddepcontrol.launch_dependents;");

  auto total = [&](int row, int j) {  // this CTA's sum: activation row, weight row j of the CTA
    float v = 0.f;
#pragma unroll
    for (int w = 0; w < NW; ++w) v += red[w][j >> 4][j & 15][row];
    return v;
  };
  constexpr int ROWS = 16 * RB;
  if (p.slices > 1) {  // split K: store this slice's sums; the last slice to arrive finishes the row block
    for (int idx = threadIdx.x; idx < p.m * ROWS; idx += NW * 32) {
      const int row = idx / ROWS, j = idx % ROWS;
      if (n0 + j < p.n) p.part[((long long)blockIdx.y * p.m + row) * p.n + n0 + j] = total(row, j);
    }
    __shared__ int last;
    __syncthreads();
    if (threadIdx.x == 0) {
      __threadfence();  // this slice's partials are visible before it counts in
      last = atomicAdd(p.sems + blockIdx.x, 1) == p.slices - 1;
      if (last) p.sems[blockIdx.x] = 0;  // for the next launch (stream-ordered)
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
  }
  auto sum = [&](int row, int j) {  // the row block's sum over every slice, + bias
    float v = 0.f;
    if (p.slices > 1) {
      for (int sl = 0; sl < p.slices; ++sl) v += __ldcg(p.part + ((long long)sl * p.m + row) * p.n + n0 + j);
    } else {
      v = total(row, j);
    }
    if (p.bias) v += bf16_float(p.bias[n0 + j]);
    return v;
  };
  if (p.act) {  // SiLU(gate) * up: rows 2i and 2i + 1 are gate i and up i
    for (int idx = threadIdx.x; idx < p.m * ROWS / 2; idx += NW * 32) {
      const int row = idx / (ROWS / 2), j = 2 * (idx % (ROWS / 2));
      if (n0 + j >= p.n) continue;
      const float gate = sum(row, j), up = sum(row, j + 1);
      float v = gate / (1.f + __expf(-gate)) * up;
      const long long col = (n0 + j) / 2;
      if (p.residual) v += bf16_float(p.residual[row * p.ldr + col]);
      p.out[row * p.ldo + col] = float_bf16(v);
    }
  } else {
    for (int idx = threadIdx.x; idx < p.m * ROWS; idx += NW * 32) {
      const int row = idx / ROWS, j = idx % ROWS;
      if (n0 + j >= p.n) continue;
      float v = sum(row, j);
      if (p.residual) v += bf16_float(p.residual[row * p.ldr + n0 + j]);
      p.out[row * p.ldo + n0 + j] = float_bf16(v);
    }
  }
}

template <int RB, int NW, int PF, bool POST, bool M16>
int launch(const Params& p, int pdl, cudaStream_t stream) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3((p.n + 16 * RB - 1) / (16 * RB), p.slices);
  config.blockDim = dim3(NW * 32);
  config.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attr;
  config.numAttrs = pdl ? 1 : 0;
  if (cudaLaunchKernelEx(&config, w4_gemv_kernel<RB, NW, PF, M16, POST>, p) != cudaSuccess) return 5;
  return cudaGetLastError() == cudaSuccess ? 0 : 6;
}

}  // namespace vlmq_w4

// The configurations built: X(index, RB weight-row blocks of 16 a CTA, NW warps, PF chunks in flight a warp, POST).
#define VLMQ_W4_GEMV_CONFIGS(X) \
  X(0, 1, 1, 4, 0)              \
  X(1, 1, 1, 4, 1)              \
  X(2, 1, 1, 8, 1)              \
  X(3, 1, 2, 2, 1)              \
  X(4, 1, 2, 4, 0)              \
  X(5, 1, 2, 4, 1)              \
  X(6, 1, 4, 2, 0)              \
  X(7, 1, 4, 2, 1)              \
  X(8, 1, 4, 4, 1)              \
  X(9, 1, 8, 2, 0)              \
  X(10, 1, 8, 2, 1)             \
  X(11, 1, 8, 4, 1)             \
  X(12, 2, 2, 4, 1)             \
  X(13, 2, 1, 4, 1)             \
  X(14, 1, 1, 2, 1)             \
  X(15, 2, 4, 2, 0)

extern "C" {

int vlmq_w4_gemv_configs() {
#define VLMQ_COUNT(I, RB, NW, PF, POST) +1
  return 0 VLMQ_W4_GEMV_CONFIGS(VLMQ_COUNT);
#undef VLMQ_COUNT
}

// (RB, NW, PF, POST) of configuration ``config``; 0, or 1 for an unknown one.
int vlmq_w4_gemv_config_shape(int config, int* rb, int* nw, int* pf, int* post) {
#define VLMQ_SHAPE(I, RB, NW, PF, POST) \
  if (config == I) {                    \
    *rb = RB;                           \
    *nw = NW;                           \
    *pf = PF;                           \
    *post = POST;                       \
    return 0;                           \
  }
  VLMQ_W4_GEMV_CONFIGS(VLMQ_SHAPE)
#undef VLMQ_SHAPE
  return 1;
}

// out = epilogue(x @ w^T) (the file's comment). act 1: SiLU(gate) * up over interleaved rows. slices > 1: K split
// over that many CTAs a row block, their fp32 sums through part [slices, M, N] and a zeroed counter a row block in
// sems (reset by the last to arrive, so the buffer stays zeroed for the next launch). pdl 1: launched as a
// programmatic dependent of the previous kernel on the stream. Returns 0, or 1 unknown configuration, 3 shape not
// supported (M > 16, K or the group not a multiple of 32 -- of 128 for a POST configuration --, N odd with act,
// rows not 16-byte aligned), 5 launch
// failed, 6 CUDA error after the launch.
int vlmq_w4_gemv(int config, const void* x, const void* w, const void* scale, const void* zero, int group_shift,
                 const void* bias, const void* residual, void* out, int m, int n, int k, long long ldx, long long ldw,
                 long long lds, long long ldr, long long ldo, int act, int slices, void* part, void* sems, int pdl,
                 cudaStream_t stream) {
  if (m < 1 || m > 16 || k % 32 || (1 << group_shift) % 32 || ldx % 8 || ldw % 4 || (act && n % 2) ||
      slices < 1 || slices > 65535 || (slices > 1 && (!part || !sems)) ||
      reinterpret_cast<uintptr_t>(x) % 16 || reinterpret_cast<uintptr_t>(w) % 16)
    return 3;
  vlmq_w4::Params p{static_cast<const uint16_t*>(x),
                    static_cast<const int32_t*>(w),
                    static_cast<const uint16_t*>(scale),
                    static_cast<const int8_t*>(zero),
                    static_cast<const uint16_t*>(bias),
                    static_cast<const uint16_t*>(residual),
                    static_cast<uint16_t*>(out),
                    m,
                    n,
                    k,
                    group_shift,
                    act,
                    ldx,
                    ldw,
                    lds,
                    ldr,
                    ldo,
                    slices,
                    static_cast<float*>(part),
                    static_cast<int*>(sems)};
#define VLMQ_RUN(I, RB, NW, PF, POST)                                                          \
  if (config == I) {                                                                           \
    if (POST && (1 << group_shift) % vlmq_w4::CHUNK) return 3;                                 \
    return m > 8 ? vlmq_w4::launch<RB, NW, PF, POST, true>(p, pdl, stream)                     \
                 : vlmq_w4::launch<RB, NW, PF, POST, false>(p, pdl, stream);                   \
  }
  VLMQ_W4_GEMV_CONFIGS(VLMQ_RUN)
#undef VLMQ_RUN
  return 1;
}

}  // extern "C"
