// vlmq's weight-only prefill GEMMs on Hopper: CUTLASS 3.x's mixed-input warp-specialised mainloop
// (the int8 / int4 weight tile widened to bf16 in registers and fed to wgmma as its register operand,
// TMA loads and MMAs in separate warps), so a W8A16 / W4A16 first token costs a BF16 GEMM's time instead of
// a dequantization pass plus cuBLAS. Built by vlmq.engine.kernels.cutlass_build into a shared library with
// a C ABI (no libtorch: it loads beside any torch), called through ctypes with raw device pointers.
//
// Operands are swapped (gemm_common.cuh): CUTLASS requires the narrow type as the register operand A.
#include "gemm_common.cuh"
#include "cute/arch/mma_sm90.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"

using namespace cute;
using namespace vlmq_gemm;

namespace {

// y = per-channel scale * acc + bias (fp32), rounded once to bf16: w8.w8_linear_reference's arithmetic
// (its scale multiplies the fp32 dot; bias added in fp32).
using FusionScaleBias = cutlass::epilogue::fusion::PerRowLinCombPerRowBiasEltAct<
    cutlass::epilogue::thread::Identity, Bf16, float, Bf16, Bf16, float>;

// One GEMM type per tile: ``MainloopElement`` is the narrow weight type (int8: convert only), or the tuple
// (uint4b_t, scale, zero term) of the scale-with-zero mode; ``Alignment`` its TMA alignment in elements.
template <class MainloopElement, int Alignment, class TileShape, class Schedule, class EpiSchedule, class Cluster,
          class Scheduler, class WeightLayout = LayoutW>
struct MixedGemm {
  using Epilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, Cluster,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, void, LayoutD, 8, Bf16, LayoutD, 8,
      EpiSchedule, FusionScaleBias>::CollectiveOp;
  using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, MainloopElement, WeightLayout, Alignment, Bf16, LayoutX, 8,
      float, TileShape, Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epilogue::SharedStorage))>,
      Schedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Mainloop, Epilogue, Scheduler>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  // the per-channel scale's epilogue arguments set, then vlmq_gemm::launch (the C ABI's codes)
  static int launch(typename Gemm::Arguments& args, const void* bias, void* workspace, size_t workspace_bytes,
                    cudaStream_t stream) {
    auto& fusion = args.epilogue.thread;
    fusion.beta = 0.f;
    fusion.bias_ptr = static_cast<const Bf16*>(bias);
    return vlmq_gemm::launch<Gemm>(args, workspace, workspace_bytes, stream);
  }
};

template <class ElementW, class TileShape, class Schedule, class EpiSchedule, class Cluster = One,
          class Scheduler = void>
struct W8Gemm : MixedGemm<ElementW, 16, TileShape, Schedule, EpiSchedule, Cluster, Scheduler> {
  using Base = MixedGemm<ElementW, 16, TileShape, Schedule, EpiSchedule, Cluster, Scheduler>;

  static int run(const void* x, const void* w, const float* wscale, const void* bias, void* out, int m, int n,
                 int k, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
    auto [stride_w, stride_x, stride_d] = swapped_strides<typename Base::Gemm>(m, n, k);
    typename Base::Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {n, m, k, 1},
        {static_cast<const ElementW*>(w), stride_w, static_cast<const Bf16*>(x), stride_x},
        {{}, nullptr, stride_d, static_cast<Bf16*>(out), stride_d}};
    args.epilogue.thread.alpha_ptr = wscale;
    args.epilogue.thread.dAlpha = {bool(1), _0{}, 0};
    return Base::launch(args, bias, workspace, workspace_bytes, stream);
  }
};

// int4 weights (compressed-tensors' pack-quantized layout read as it is: nibble q + 8, eight along K in an int32,
// the lowest first: CUTLASS's uint4b_t [N, K]) with bf16 group scales and zero terms, both [K / group, N]:
// w = scale * (q + 8) + zero_term in one bf16 FMA before the MMA (CUTLASS's ScaleWithZero mode), where the caller
// passes zero_term = -(zero + 8) * scale rounded to bf16 (exact for symmetric packs: -8 * scale).
template <class TileShape, class Schedule, class EpiSchedule, class Cluster = One, class Scheduler = void>
struct W4Gemm : MixedGemm<cute::tuple<cutlass::uint4b_t, Bf16, Bf16>, 32, TileShape, Schedule, EpiSchedule, Cluster,
                          Scheduler> {
  using Base = MixedGemm<cute::tuple<cutlass::uint4b_t, Bf16, Bf16>, 32, TileShape, Schedule, EpiSchedule, Cluster,
                         Scheduler>;

  static int run(const void* x, const void* w, const void* scale_t, const void* zero_t, int group, const void* bias,
                 void* out, int m, int n, int k, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
    using StrideS = typename Base::Mainloop::StrideScale;
    if (group <= 0 || k % group) return 3;
    auto [stride_w, stride_x, stride_d] = swapped_strides<typename Base::Gemm>(m, n, k);
    auto stride_s = cutlass::make_cute_packed_stride(StrideS{}, make_shape(n, k / group, 1));
    typename Base::Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {n, m, k, 1},
        {static_cast<const cutlass::uint4b_t*>(w), stride_w, static_cast<const Bf16*>(x), stride_x,
         static_cast<const Bf16*>(scale_t), stride_s, group, static_cast<const Bf16*>(zero_t)},
        {{}, nullptr, stride_d, static_cast<Bf16*>(out), stride_d}};
    args.epilogue.thread.alpha = 1.f;
    return Base::launch(args, bias, workspace, workspace_bytes, stream);
  }
};

// The layout that puts the values one thread of a warp holds in a wgmma register fragment (the rs form's A operand of
// ElementMma) next to each other, with ValLayout permuting them: CUTLASS 4.2's compute_memory_reordering_atom
// (tools/util/include/cutlass/util/mixed_dtype_utils.hpp, BSD-3-Clause), restated here because that header includes
// curand, which the build machine lacks. Steps: the MMA's (thread, value) -> (m, k) layout cut to one warp and
// inverted to (m, k) -> (thread, value), then composed with (thread, value) -> offset, values of a thread innermost.
template <class ElementMma, class ValLayout>
constexpr auto fragment_order_atom(ValLayout val_layout = {}) {
  using MmaAtom = decltype(SM90::GMMA::rs_op_selector<ElementMma, ElementMma, float, Shape<_64, _16, _32>>());
  using Traits = MMA_Traits<MmaAtom>;
  auto mk_shape = select<0, 2>(typename Traits::Shape_MNK{});
  auto tv_mma = typename Traits::ALayout{};
  auto tv_warp = make_layout_like(composition(tv_mma, make_shape(Int<32>{}, size<1>(tv_mma))));
  auto mk_warp = right_inverse(tv_warp).with_shape(shape_div(mk_shape, size(typename Traits::ThrID{}) / Int<32>{}));
  auto value_offsets = logical_product(val_layout, size<1>(tv_mma) / size(val_layout));
  auto tv_offsets = select<1, 0>(logical_product(value_offsets, make_layout(size<0>(tv_warp))));
  return composition(tv_offsets, mk_warp);
}

// The shuffled int4 layout of CUTLASS's example 55: each thread's 16 nibbles of a wgmma register fragment contiguous
// (one 64-bit shared-memory load instead of 8-bit ones) and, within each 8, in the order 0, 2, 4, 6, 1, 3, 5, 7 (so
// NumericArrayShuffleConverter widens them in parallel). The weights are reordered into it once
// (vlmq_w4_shuffle); the arithmetic is W4Gemm's, only the data movement differs.
using ShuffleValues = Layout<Shape<_2, _4>, Stride<_4, _1>>;
using ShuffleAtom = decltype(fragment_order_atom<Bf16, ShuffleValues>());
using StrideW = cutlass::detail::TagToStrideA_t<LayoutW>;
using LayoutWShuffled = decltype(cute::tile_to_shape(ShuffleAtom{}, Layout<Shape<int, int, int>, StrideW>{}));

auto shuffled_layout(int n, int k) { return cute::tile_to_shape(ShuffleAtom{}, cute::make_shape(n, k, 1)); }

template <class TileShape, class Schedule, class EpiSchedule, class Cluster = One, class Scheduler = void>
struct W4ShuffledGemm : MixedGemm<cute::tuple<cutlass::uint4b_t, Bf16, Bf16>, 32, TileShape, Schedule, EpiSchedule,
                                  Cluster, Scheduler, LayoutWShuffled> {
  using Base = MixedGemm<cute::tuple<cutlass::uint4b_t, Bf16, Bf16>, 32, TileShape, Schedule, EpiSchedule, Cluster,
                         Scheduler, LayoutWShuffled>;

  static int run(const void* x, const void* w, const void* scale_t, const void* zero_t, int group, const void* bias,
                 void* out, int m, int n, int k, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
    using StrideS = typename Base::Mainloop::StrideScale;
    using Kernel = typename Base::Gemm::GemmKernel;
    if (group <= 0 || k % group) return 3;
    // swapped_strides' X and D' strides (the weights' is the shuffled layout itself)
    auto stride_x = cutlass::make_cute_packed_stride(typename Kernel::StrideB{}, make_shape(m, k, 1));
    auto stride_d = cutlass::make_cute_packed_stride(typename Kernel::StrideD{}, make_shape(n, m, 1));
    auto stride_s = cutlass::make_cute_packed_stride(StrideS{}, make_shape(n, k / group, 1));
    typename Base::Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {n, m, k, 1},
        {static_cast<const cutlass::uint4b_t*>(w), shuffled_layout(n, k), static_cast<const Bf16*>(x), stride_x,
         static_cast<const Bf16*>(scale_t), stride_s, group, static_cast<const Bf16*>(zero_t)},
        {{}, nullptr, stride_d, static_cast<Bf16*>(out), stride_d}};
    args.epilogue.thread.alpha = 1.f;
    return Base::launch(args, bias, workspace, workspace_bytes, stream);
  }
};

}  // namespace

// The tiles a caller may pick: (index, weight rows, token rows of a CTA's output, CTAs a cluster along the tokens,
// the GEMM). Token rows are powers of two or 192: the TMA load of the activations' tile cannot be laid out for
// 152 or 104 (CuTe's "Stride Divisibility" assertion, twelfth session: an odd number of 8-row swizzle atoms),
// which would have covered 300-row prompts with 1-4% padding; 160 pads them to 320, 64 too but loads each weight
// tile five times (from L2 when its CTAs run together). K 128 halves the mainloop's iterations. Stream-K
// (CUTLASS's heuristic decomposition) splits the K loop of the tiles that do not fill the 132 SMs: the 7b's down
// and o projections at 300 rows make 28 x 3 output tiles of 128 x 128. The (1, 2) cluster multicasts each weight tile to the two CTAs that need it. vlmq's prefill picks by
// padding, then by measured preference (cutlass_gemm.pick_tile); bench_prefill_gemm.py times every one.
#define VLMQ_W8_TILES(X)                                                                   \
  X(0, 128, 128, 1, W8Gemm<int8_t, Shape<_128, _128, _64>, Coop, CoopEpi>)                 \
  X(1, 128, 64, 1, W8Gemm<int8_t, Shape<_128, _64, _64>, Coop, CoopEpi>)                   \
  X(2, 128, 192, 1, W8Gemm<int8_t, Shape<_128, _192, _64>, Coop, CoopEpi>)                 \
  X(3, 128, 256, 1, W8Gemm<int8_t, Shape<_128, _256, _64>, Coop, CoopEpi>)                 \
  X(4, 64, 128, 1, W8Gemm<int8_t, Shape<_64, _128, _64>, Ping, PingEpi>)                   \
  X(5, 128, 128, 2, W8Gemm<int8_t, Shape<_128, _128, _64>, Coop, CoopEpi, Shape<_1, _2, _1>>) \
  X(6, 256, 64, 1, W8Gemm<int8_t, Shape<_256, _64, _64>, Coop, CoopEpi>)                   \
  X(7, 128, 160, 1, W8Gemm<int8_t, Shape<_128, _160, _64>, Coop, CoopEpi>)                 \
  X(8, 128, 192, 1, W8Gemm<int8_t, Shape<_128, _192, _128>, Coop, CoopEpi>)                \
  X(9, 128, 128, 1, W8Gemm<int8_t, Shape<_128, _128, _128>, Coop, CoopEpi>)                \
  X(10, 128, 128, 1, W8Gemm<int8_t, Shape<_128, _128, _128>, Coop, CoopEpi, One, StreamK>) \
  X(11, 128, 192, 1, W8Gemm<int8_t, Shape<_128, _192, _128>, Coop, CoopEpi, One, StreamK>) \
  X(12, 128, 160, 1, W8Gemm<int8_t, Shape<_128, _160, _128>, Coop, CoopEpi>)                \
  X(13, 128, 160, 1, W8Gemm<int8_t, Shape<_128, _160, _128>, Coop, CoopEpi, One, StreamK>) \
  X(14, 128, 16, 1, W8Gemm<int8_t, Shape<_128, _16, _128>, Coop, CoopEpi>)                 \
  X(15, 128, 16, 1, W8Gemm<int8_t, Shape<_128, _16, _128>, Coop, CoopEpi, One, StreamK>)   \
  X(16, 64, 16, 1, W8Gemm<int8_t, Shape<_64, _16, _128>, Ping, PingEpi>)

// int4: the 64-deep tiles take any group of 64k; the 128-deep ones need groups of 128k (CUTLASS loads one scale
// per K tile). Wider token tiles widen each weight tile fewer times per prompt (192: twice for 300 rows, 128: three
// times), which is what bounds the mixed-input mainloop where the widening, not the MMA, is the long pole.
#define VLMQ_W4_TILES(X)                                                                   \
  X(0, 128, 128, 1, W4Gemm<Shape<_128, _128, _64>, Coop, CoopEpi>)                         \
  X(1, 128, 64, 1, W4Gemm<Shape<_128, _64, _64>, Coop, CoopEpi>)                           \
  X(2, 64, 128, 1, W4Gemm<Shape<_64, _128, _64>, Ping, PingEpi>)                           \
  X(3, 128, 192, 1, W4Gemm<Shape<_128, _192, _64>, Coop, CoopEpi>)                         \
  X(4, 128, 160, 1, W4Gemm<Shape<_128, _160, _64>, Coop, CoopEpi>)                         \
  X(5, 128, 128, 1, W4Gemm<Shape<_128, _128, _128>, Coop, CoopEpi>)                        \
  X(6, 128, 192, 1, W4Gemm<Shape<_128, _192, _128>, Coop, CoopEpi>)                        \
  X(7, 128, 128, 1, W4Gemm<Shape<_128, _128, _128>, Coop, CoopEpi, One, StreamK>)          \
  X(8, 128, 128, 1, W4Gemm<Shape<_128, _128, _64>, Coop, CoopEpi, One, StreamK>)           \
  X(9, 128, 192, 1, W4Gemm<Shape<_128, _192, _128>, Coop, CoopEpi, One, StreamK>)          \
  X(10, 128, 160, 1, W4Gemm<Shape<_128, _160, _64>, Coop, CoopEpi, One, StreamK>)          \
  X(11, 128, 16, 1, W4Gemm<Shape<_128, _16, _128>, Coop, CoopEpi>)                         \
  X(12, 128, 16, 1, W4Gemm<Shape<_128, _16, _128>, Coop, CoopEpi, One, StreamK>)           \
  X(13, 64, 16, 1, W4Gemm<Shape<_64, _16, _128>, Ping, PingEpi>)

// The int4 tiles that read shuffled weights (W4ShuffledGemm): the 7b gate/up and down winners of VLMQ_W4_TILES (3, 10)
// and their neighbours, to time against the same tiles unshuffled.
#define VLMQ_W4S_TILES(X)                                                                        \
  X(0, 128, 192, 1, W4ShuffledGemm<Shape<_128, _192, _64>, Coop, CoopEpi>)                      \
  X(1, 128, 160, 1, W4ShuffledGemm<Shape<_128, _160, _64>, Coop, CoopEpi, One, StreamK>)        \
  X(2, 128, 128, 1, W4ShuffledGemm<Shape<_128, _128, _64>, Coop, CoopEpi>)                      \
  X(3, 128, 192, 1, W4ShuffledGemm<Shape<_128, _192, _128>, Coop, CoopEpi>)

VLMQ_TILE_ABI(w8a16, VLMQ_W8_TILES)
VLMQ_TILE_ABI(w4a16, VLMQ_W4_TILES)
VLMQ_TILE_ABI(w4a16s, VLMQ_W4S_TILES)

// (a named namespace: nvcc's host stub of a kernel template in an anonymous one names it ambiguously, next to CuTe's)
namespace vlmq_w4_shuffle_impl {

// One CTA copies 16 rows of the source into the reordered layout, each thread a byte of contiguous nibbles (no two
// threads write one byte).
template <class TileShape, class TensorS, class TensorD, class TiledCopy>
__global__ void reorder_kernel(TensorS S, TensorD D, TiledCopy tiled_copy) {
  auto gS = local_tile(S, TileShape{}, make_coord(blockIdx.x, _, blockIdx.z));
  auto gD = local_tile(D, TileShape{}, make_coord(blockIdx.x, _, blockIdx.z));
  auto thread_copy = tiled_copy.get_slice(threadIdx.x);
  copy(tiled_copy, thread_copy.partition_S(gS), thread_copy.partition_D(gD));
}

// The reorder on ``stream`` (CUTLASS's reorder_tensor launches on the default stream and synchronises the device,
// which neither a side stream nor a CUDA graph's capture allows)
template <class T, class LayoutSrc, class LayoutDst>
void reorder_on_stream(const T* src, LayoutSrc const& layout_src, T* dst, LayoutDst const& layout_dst,
                       cudaStream_t stream) {
  auto S = make_tensor(make_gmem_ptr<T>(src), layout_src);
  auto D = make_tensor(make_gmem_ptr<T>(dst), layout_dst);
  constexpr int N = shape_div(Int<8>{}, Int<sizeof_bits_v<T>>{});
  auto val_layout = make_layout(make_shape(Int<1>{}, Int<N>{}), GenRowMajor{});  // K is the stride-1 mode
  constexpr int NumThreads = 128;
  auto tiled_copy = make_tiled_copy(Copy_Atom<DefaultCopy, T>{}, make_layout(make_shape(Int<1>{}, Int<NumThreads>{})),
                                    val_layout);
  using TileShape = Shape<_16>;
  auto tiled_D = group_modes<3, rank_v<LayoutDst>>(tiled_divide(D, TileShape{}));
  dim3 blocks{unsigned(size<1>(tiled_D)), 1u, unsigned(size<3>(tiled_D))};
  reorder_kernel<TileShape><<<blocks, NumThreads, 0, stream>>>(S, D, tiled_copy);
}

}  // namespace vlmq_w4_shuffle_impl

extern "C" {

// out[M, N] (bf16) = (x[M, K] (bf16) @ w[N, K]^T (int8)) * wscale[N] (fp32) + bias[N] (bf16, may be null).
// Returns 0, or a nonzero code: 1 unknown tile, 2 workspace too small, 3 shape not supported (K % 16, N % 8),
// 4 initialisation failed, 5 launch failed, 6 CUDA error after the launch.
int vlmq_w8a16_gemm(int tile, const void* x, const void* w, const float* wscale, const void* bias, void* out, int m,
                    int n, int k, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
#define VLMQ_RUN(I, WR, TR, CL, ...) \
  if (tile == I) return __VA_ARGS__::run(x, w, wscale, bias, out, m, n, k, workspace, workspace_bytes, stream);
  VLMQ_W8_TILES(VLMQ_RUN)
#undef VLMQ_RUN
  return 1;
}

// out[M, N] (bf16) = x[M, K] (bf16) @ w^T + bias, w[n, k] = scale_t[k / group, n] * (q[n, k] + 8) + zero_t[k / group, n]
// (bf16, one FMA), q the packed int4 [N, K / 8] int32. Codes as vlmq_w8a16_gemm's (3 also: K not a multiple of group).
// vlmq_w4a16s_gemm: the same over weights in the shuffled layout (vlmq_w4_shuffle's output) with its own tiles.
#define VLMQ_W4_GEMM_ABI(NAME, LIST)                                                                                \
  int vlmq_##NAME##_gemm(int tile, const void* x, const void* w, const void* scale_t, const void* zero_t, int group, \
                         const void* bias, void* out, int m, int n, int k, void* workspace, size_t workspace_bytes,  \
                         cudaStream_t stream) {                                                                     \
    LIST(VLMQ_W4_RUN)                                                                                               \
    return 1;                                                                                                       \
  }
#define VLMQ_W4_RUN(I, WR, TR, CL, ...)                                                                \
  if (tile == I)                                                                                       \
    return __VA_ARGS__::run(x, w, scale_t, zero_t, group, bias, out, m, n, k, workspace, workspace_bytes, \
                            stream);
VLMQ_W4_GEMM_ABI(w4a16, VLMQ_W4_TILES)
VLMQ_W4_GEMM_ABI(w4a16s, VLMQ_W4S_TILES)
#undef VLMQ_W4_RUN
#undef VLMQ_W4_GEMM_ABI

// out = the packed int4 w [N, K / 8] (int32 words, eight nibbles along K, the lowest first) in the shuffled layout
// vlmq_w4a16s_gemm reads (same size). Returns 0, 3 shape not supported (K % 64, N % 16), 6 CUDA error.
int vlmq_w4_shuffle(const void* w, void* out, int n, int k, cudaStream_t stream) {
  if (k % 64 || n % 16) return 3;
  auto layout_src = make_layout(make_shape(n, k, 1), cutlass::make_cute_packed_stride(StrideW{}, make_shape(n, k, 1)));
  vlmq_w4_shuffle_impl::reorder_on_stream(static_cast<const cutlass::uint4b_t*>(w), layout_src,
                                          static_cast<cutlass::uint4b_t*>(out), shuffled_layout(n, k), stream);
  return cudaGetLastError() == cudaSuccess ? 0 : 6;
}

}  // extern "C"
