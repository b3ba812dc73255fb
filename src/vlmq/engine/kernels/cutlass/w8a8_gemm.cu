// vlmq's W8A8 prefill GEMMs on Hopper: FP8 (e4m3 x e4m3) and int8 (int8 x int8) tensor cores through CUTLASS 3.x's
// warp-specialised TMA mainloop, with the per-token and per-channel scales and the bias in the epilogue, so a
// W8A8 first token runs at the 8-bit MMA rate with tiles chosen for a prompt's few hundred rows (cuBLASLt's
// row-wise FP8 kernel behind torch._scaled_mm runs 128 x 128 tiles: a 300-row prompt pads to 384). Built with
// mixed_gemm.cu into one shared library with a C ABI (cutlass_build), called through ctypes with raw pointers.
//
// Operands are swapped as in mixed_gemm.cu (gemm_common.cuh) so that a CTA's tile covers more weight rows than
// token rows.
#include "gemm_common.cuh"
#include "cutlass/epilogue/fusion/sm90_callbacks_tma_warpspecialized.hpp"

using namespace cute;
using namespace vlmq_gemm;

namespace {

using Fp8 = cutlass::float_e4m3_t;

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

template <class Element, class Accumulator, class TileShape, class Schedule, class EpiSchedule, class Cluster = One,
          class Scheduler = void>
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

  // 0, or the C ABI's error code (vlmq_gemm::launch)
  static int run(const void* x, const void* w, const float* wscale, const float* xscale, const void* bias, void* out,
                 int m, int n, int k, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
    auto [stride_w, stride_x, stride_d] = swapped_strides<Gemm>(m, n, k);
    typename Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {n, m, k, 1},
        {static_cast<const Element*>(w), stride_w, static_cast<const Element*>(x), stride_x},
        {ScaledBias<TileShape>::arguments(wscale, xscale, bias), nullptr, stride_d, static_cast<Bf16*>(out),
         stride_d}};
    return launch<Gemm>(args, workspace, workspace_bytes, stream);
  }
};

using CoopFast = cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum;
using PingFast = cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum;

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
  X(7, 256, 160, 1, Fp8Gemm<Shape<_256, _160, _128>, CoopFast, CoopEpi>)                             \
  X(8, 128, 16, 1, Fp8Gemm<Shape<_128, _16, _128>, CoopFast, CoopEpi>)                               \
  X(9, 128, 16, 1, Fp8Gemm<Shape<_128, _16, _128>, CoopFast, CoopEpi, One, StreamK>)                 \
  X(10, 64, 16, 1, Fp8Gemm<Shape<_64, _16, _128>, PingFast, PingEpi>)

#define VLMQ_INT8_TILES(X)                                                                           \
  X(0, 128, 128, 1, Int8Gemm<Shape<_128, _128, _128>, Coop, CoopEpi>)                                \
  X(1, 128, 160, 1, Int8Gemm<Shape<_128, _160, _128>, Coop, CoopEpi>)                                \
  X(2, 128, 256, 1, Int8Gemm<Shape<_128, _256, _128>, Coop, CoopEpi>)                                \
  X(3, 64, 160, 1, Int8Gemm<Shape<_64, _160, _128>, Ping, PingEpi>)                                  \
  X(4, 128, 160, 1, Int8Gemm<Shape<_128, _160, _128>, Coop, CoopEpi, One, StreamK>)                  \
  X(5, 256, 160, 1, Int8Gemm<Shape<_256, _160, _128>, Coop, CoopEpi>)                                \
  X(6, 128, 16, 1, Int8Gemm<Shape<_128, _16, _128>, Coop, CoopEpi>)                                  \
  X(7, 128, 16, 1, Int8Gemm<Shape<_128, _16, _128>, Coop, CoopEpi, One, StreamK>)                    \
  X(8, 64, 16, 1, Int8Gemm<Shape<_64, _16, _128>, Ping, PingEpi>)

#define VLMQ_RUN(I, WR, TR, CL, ...) \
  if (tile == I) return __VA_ARGS__::run(x, w, wscale, xscale, bias, out, m, n, k, workspace, workspace_bytes, stream);

VLMQ_TILE_ABI(w8a8_fp8, VLMQ_FP8_TILES)
VLMQ_TILE_ABI(w8a8_int8, VLMQ_INT8_TILES)

extern "C" {

// out[M, N] (bf16) = ((x[M, K] @ w[N, K]^T) * wscale[N] * xscale[M]) + bias[N] (bias bf16, may be null); x and w
// e4m3, scales fp32, accumulation fp32. Returns 0, 1 for an unknown tile, or vlmq_gemm::launch's code (3: K % 16
// or N % 8).
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
