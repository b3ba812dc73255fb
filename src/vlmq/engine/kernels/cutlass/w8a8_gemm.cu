// vlmq's W8A8 prefill GEMMs on Hopper: FP8 (e4m3 x e4m3) and int8 (int8 x int8) tensor cores through CUTLASS 3.x's
// warp-specialised TMA mainloop, with the per-token and per-channel scales and the bias in the epilogue, so a
// W8A8 first token runs at the 8-bit MMA rate with tiles chosen for a prompt's few hundred rows (cuBLASLt's
// row-wise FP8 kernel behind torch._scaled_mm runs 128 x 128 tiles: a 300-row prompt pads to 384). Built with
// mixed_gemm.cu into one shared library with a C ABI (cutlass_build), called through ctypes with raw pointers.
//
// Operands are swapped as in mixed_gemm.cu so that a CTA's tile covers more weight rows than token rows:
//   D'[N, M] = W[N, K] x X[M, K]^T, D' column-major = out[M, N] row-major.
#include <cstdint>
#include <cuda_runtime.h>

#include "cutlass/cutlass.h"
#include "cute/tensor.hpp"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/util/packed_stride.hpp"

using namespace cute;

namespace {

using Bf16 = cutlass::bfloat16_t;
using Fp8 = cutlass::float_e4m3_t;
using LayoutW = cutlass::layout::RowMajor;     // W [N, K], K fastest: the swapped problem's A, K-major
using LayoutX = cutlass::layout::ColumnMajor;  // X [M, K] as the swapped problem's B, K-major
using LayoutD = cutlass::layout::ColumnMajor;  // D' [N, M] column-major = out [M, N] row-major

// y = ((acc * wscale[n]) * xscale[m]) + bias[n] in fp32, rounded once to bf16: w8.w8_linear_reference's order.
// In D' the weight channel is the row (a column vector broadcast) and the token the column (a row vector).
template <class TileShape>
struct ScaledBias {
  template <template <class> class Op, class Out = float>
  using Compute = cutlass::epilogue::fusion::Sm90Compute<Op, Out, float, cutlass::FloatRoundStyle::round_to_nearest>;
  using WScale = cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, float, float>;
  using XScale = cutlass::epilogue::fusion::Sm90RowBroadcast<0, TileShape, float, float>;
  using Bias = cutlass::epilogue::fusion::Sm90ColBroadcast<0, TileShape, Bf16, float>;
  using AccW = cutlass::epilogue::fusion::Sm90EVT<Compute<cutlass::multiplies>, cutlass::epilogue::fusion::Sm90AccFetch,
                                                  WScale>;
  using AccWX = cutlass::epilogue::fusion::Sm90EVT<Compute<cutlass::multiplies>, AccW, XScale>;
  using Callbacks = cutlass::epilogue::fusion::Sm90EVT<Compute<cutlass::plus, Bf16>, AccWX, Bias>;

  static typename Callbacks::Arguments arguments(const float* wscale, const float* xscale, const void* bias) {
    return {{{{}, {wscale}, {}}, {xscale}, {}}, {static_cast<const Bf16*>(bias)}, {}};
  }
};

template <class Element, class Accumulator, class TileShape, class Schedule, class EpiSchedule,
          class Cluster = Shape<_1, _1, _1>, class Scheduler = void>
struct W8A8Gemm {
  using Epilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, Cluster,
      cutlass::epilogue::collective::EpilogueTileAuto, Accumulator, float, void, LayoutD, 8, Bf16, LayoutD, 8,
      EpiSchedule, typename ScaledBias<TileShape>::Callbacks>::CollectiveOp;
  using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Element, LayoutW, 16, Element, LayoutX, 16, Accumulator,
      TileShape, Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epilogue::SharedStorage))>,
      Schedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Mainloop, Epilogue, Scheduler>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  // 0, or the C ABI's error code (see vlmq_w8a8_fp8_gemm)
  static int run(const void* x, const void* w, const float* wscale, const float* xscale, const void* bias, void* out,
                 int m, int n, int k, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
    using StrideW = typename Gemm::GemmKernel::StrideA;
    using StrideX = typename Gemm::GemmKernel::StrideB;
    using StrideD = typename Gemm::GemmKernel::StrideD;
    auto stride_d = cutlass::make_cute_packed_stride(StrideD{}, make_shape(n, m, 1));
    typename Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {n, m, k, 1},
        {static_cast<const Element*>(w), cutlass::make_cute_packed_stride(StrideW{}, make_shape(n, k, 1)),
         static_cast<const Element*>(x), cutlass::make_cute_packed_stride(StrideX{}, make_shape(m, k, 1))},
        {ScaledBias<TileShape>::arguments(wscale, xscale, bias), nullptr, stride_d, static_cast<Bf16*>(out),
         stride_d}};
    Gemm gemm;
    if (Gemm::get_workspace_size(args) > workspace_bytes) return 2;
    if (gemm.can_implement(args) != cutlass::Status::kSuccess) return 3;
    if (gemm.initialize(args, workspace, stream) != cutlass::Status::kSuccess) return 4;
    if (gemm.run(stream) != cutlass::Status::kSuccess) return 5;
    return cudaGetLastError() == cudaSuccess ? 0 : 6;
  }
};

using Coop = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
using CoopFast = cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum;
using CoopEpi = cutlass::epilogue::TmaWarpSpecializedCooperative;
using Ping = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
using PingFast = cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum;
using PingEpi = cutlass::epilogue::TmaWarpSpecialized;
using StreamK = cutlass::gemm::StreamKScheduler;
using One = Shape<_1, _1, _1>;

template <class... A>
using Fp8Gemm = W8A8Gemm<Fp8, float, A...>;
template <class... A>
using Int8Gemm = W8A8Gemm<int8_t, int32_t, A...>;

}  // namespace

// The tiles a caller may pick: (index, weight rows, token rows of a CTA's output, CTAs a cluster along the tokens,
// the GEMM), all 128 deep in K (one 128-byte swizzle row of 8-bit values). Token rows of 160 pad a 300-row prompt
// to 320 (128 pads it to 384). FP8 "fast accumulation" keeps the wgmma's own accumulator for the whole K loop
// (vLLM's and TensorRT-LLM's Hopper FP8 GEMMs); without it CUTLASS adds each K block's partial sum into fp32 registers
// (what cuBLASLt does for torch._scaled_mm by default). vlmq's prefill picks the tile the table measured
// (bench_prefill_gemm.py --write-tiles).
#define VLMQ_FP8_TILES(X)                                                                            \
  X(0, 128, 128, 1, Fp8Gemm<Shape<_128, _128, _128>, Coop, CoopEpi>)                                 \
  X(1, 128, 160, 1, Fp8Gemm<Shape<_128, _160, _128>, Coop, CoopEpi>)                                 \
  X(2, 128, 160, 1, Fp8Gemm<Shape<_128, _160, _128>, CoopFast, CoopEpi>)                             \
  X(3, 128, 256, 1, Fp8Gemm<Shape<_128, _256, _128>, CoopFast, CoopEpi>)                             \
  X(4, 64, 160, 1, Fp8Gemm<Shape<_64, _160, _128>, PingFast, PingEpi>)                               \
  X(5, 128, 128, 1, Fp8Gemm<Shape<_128, _128, _128>, CoopFast, CoopEpi>)                             \
  X(6, 128, 160, 1, Fp8Gemm<Shape<_128, _160, _128>, CoopFast, CoopEpi, One, StreamK>)               \
  X(7, 256, 160, 1, Fp8Gemm<Shape<_256, _160, _128>, CoopFast, CoopEpi>)

#define VLMQ_INT8_TILES(X)                                                                           \
  X(0, 128, 128, 1, Int8Gemm<Shape<_128, _128, _128>, Coop, CoopEpi>)                                \
  X(1, 128, 160, 1, Int8Gemm<Shape<_128, _160, _128>, Coop, CoopEpi>)                                \
  X(2, 128, 256, 1, Int8Gemm<Shape<_128, _256, _128>, Coop, CoopEpi>)                                \
  X(3, 64, 160, 1, Int8Gemm<Shape<_64, _160, _128>, Ping, PingEpi>)                                  \
  X(4, 128, 160, 1, Int8Gemm<Shape<_128, _160, _128>, Coop, CoopEpi, One, StreamK>)                  \
  X(5, 256, 160, 1, Int8Gemm<Shape<_256, _160, _128>, Coop, CoopEpi>)

// a tile's CTA shape (weight rows, token rows, CTAs a cluster along the tokens); nonzero for an unknown tile
#define VLMQ_SHAPE(I, WR, TR, CL, ...) \
  if (tile == I) {                   \
    *weight_rows = WR;               \
    *token_rows = TR;                \
    *cluster = CL;                   \
    return 0;                        \
  }
#define VLMQ_COUNT(I, ...) +1
#define VLMQ_RUN(I, WR, TR, CL, ...) \
  if (tile == I) return __VA_ARGS__::run(x, w, wscale, xscale, bias, out, m, n, k, workspace, workspace_bytes, stream);

extern "C" {

int vlmq_w8a8_fp8_tiles() { return 0 VLMQ_FP8_TILES(VLMQ_COUNT); }
int vlmq_w8a8_int8_tiles() { return 0 VLMQ_INT8_TILES(VLMQ_COUNT); }

int vlmq_w8a8_fp8_tile_shape(int tile, int* weight_rows, int* token_rows, int* cluster) {
  VLMQ_FP8_TILES(VLMQ_SHAPE)
  return 1;
}

int vlmq_w8a8_int8_tile_shape(int tile, int* weight_rows, int* token_rows, int* cluster) {
  VLMQ_INT8_TILES(VLMQ_SHAPE)
  return 1;
}

// out[M, N] (bf16) = ((x[M, K] @ w[N, K]^T) * wscale[N] * xscale[M]) + bias[N] (bias bf16, may be null); x and w
// e4m3, scales fp32, accumulation fp32. Returns 0, or a nonzero code: 1 unknown tile, 2 workspace too small,
// 3 shape not supported (K % 16, N % 8), 4 initialisation failed, 5 launch failed, 6 CUDA error after the launch.
int vlmq_w8a8_fp8_gemm(int tile, const void* x, const void* w, const float* wscale, const float* xscale,
                       const void* bias, void* out, int m, int n, int k, void* workspace, size_t workspace_bytes,
                       cudaStream_t stream) {
  VLMQ_FP8_TILES(VLMQ_RUN)
  return 1;
}

// as vlmq_w8a8_fp8_gemm with int8 x and w and an int32 accumulator (exact), converted to fp32 for the scales
int vlmq_w8a8_int8_gemm(int tile, const void* x, const void* w, const float* wscale, const float* xscale,
                        const void* bias, void* out, int m, int n, int k, void* workspace, size_t workspace_bytes,
                        cudaStream_t stream) {
  VLMQ_INT8_TILES(VLMQ_RUN)
  return 1;
}

}  // extern "C"
