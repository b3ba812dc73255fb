// What vlmq's CUTLASS prefill GEMMs (mixed_gemm.cu, w8a8_gemm.cu) share: the swapped problem's layouts and strides,
// the launch sequence behind the C ABI's error codes, and the macros that turn a tile list into the ABI's tile
// count and tile-shape functions.
//
// Operands are swapped so that a CTA's tile covers more weight rows than token rows (and, for the mixed-input GEMM,
// because CUTLASS requires the narrow type as the register operand A):
//   D'[N, M] = W[N, K] x X[M, K]^T, D' column-major = out[M, N] row-major.
#pragma once

#include <cstdint>
#include <cuda_runtime.h>

#include "cutlass/cutlass.h"
#include "cute/tensor.hpp"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/util/packed_stride.hpp"

namespace vlmq_gemm {

using Bf16 = cutlass::bfloat16_t;
using LayoutW = cutlass::layout::RowMajor;     // W [N, K], K fastest: the swapped problem's A, K-major
using LayoutX = cutlass::layout::ColumnMajor;  // X [M, K] as the swapped problem's B, K-major
using LayoutD = cutlass::layout::ColumnMajor;  // D' [N, M] column-major = out [M, N] row-major

using Coop = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
using CoopEpi = cutlass::epilogue::TmaWarpSpecializedCooperative;
using Ping = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
using PingEpi = cutlass::epilogue::TmaWarpSpecialized;
using StreamK = cutlass::gemm::StreamKScheduler;
using One = cute::Shape<cute::_1, cute::_1, cute::_1>;

// (W, X, D') packed strides of the swapped problem for out[M, N] = x[M, K] w[N, K]^T
template <class Gemm>
auto swapped_strides(int m, int n, int k) {
  using Kernel = typename Gemm::GemmKernel;
  return cute::make_tuple(
      cutlass::make_cute_packed_stride(typename Kernel::StrideA{}, cute::make_shape(n, k, 1)),
      cutlass::make_cute_packed_stride(typename Kernel::StrideB{}, cute::make_shape(m, k, 1)),
      cutlass::make_cute_packed_stride(typename Kernel::StrideD{}, cute::make_shape(n, m, 1)));
}

// 0, or the C ABI's error code: 2 workspace too small, 3 shape not supported, 4 initialisation failed,
// 5 launch failed, 6 CUDA error after the launch (1, an unknown tile, is the callers')
template <class Gemm>
int launch(typename Gemm::Arguments const& args, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  Gemm gemm;
  if (Gemm::get_workspace_size(args) > workspace_bytes) return 2;
  if (gemm.can_implement(args) != cutlass::Status::kSuccess) return 3;
  if (gemm.initialize(args, workspace, stream) != cutlass::Status::kSuccess) return 4;
  if (gemm.run(stream) != cutlass::Status::kSuccess) return 5;
  return cudaGetLastError() == cudaSuccess ? 0 : 6;
}

}  // namespace vlmq_gemm

// A tile list is X(index, weight rows, token rows of a CTA's output, CTAs a cluster along the tokens, the GEMM).
// VLMQ_TILE_ABI(name, LIST) defines the C ABI's vlmq_<name>_tiles() (how many) and vlmq_<name>_tile_shape() (a tile's
// weight rows, token rows, cluster and K depth -- from the GEMM's own tile shape: an int4 group must be a multiple of
// it; nonzero for an unknown tile).
#define VLMQ_SHAPE(I, WR, TR, CL, ...)                                                   \
  if (tile == I) {                                                                     \
    *weight_rows = WR;                                                                 \
    *token_rows = TR;                                                                  \
    *cluster = CL;                                                                     \
    *k_depth = int(cute::size<2>(typename __VA_ARGS__::Gemm::GemmKernel::TileShape{})); \
    return 0;                                                                          \
  }
#define VLMQ_COUNT(I, ...) +1
#define VLMQ_TILE_ABI(NAME, LIST)                                                                           \
  extern "C" int vlmq_##NAME##_tiles() { return 0 LIST(VLMQ_COUNT); }                                       \
  extern "C" int vlmq_##NAME##_tile_shape(int tile, int* weight_rows, int* token_rows, int* cluster, int* k_depth) { \
    LIST(VLMQ_SHAPE)                                                                                        \
    return 1;                                                                                               \
  }
