#pragma once
// Shared pieces of the CUDA bodies: element types, fp32 load/store, launch helpers, reductions.
// Included only by src/kernels/cuda/*.cu.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/context.h"
#include "core/cuda_state.h"
#include "core/tensor.h"
#include "kernels/cuda/errors.h"

namespace sp::cuda {

// fp32 view of the three float element types.
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }

template <typename T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }

// 16-byte vector of T, for coalesced wide loads and stores.
template <typename T>
struct alignas(16) Vec16 {
  static constexpr int kN = 16 / int(sizeof(T));
  T v[kN];
};

inline cudaStream_t stream_of(ExecContext& ctx) { return ctx.cuda().stream; }

inline unsigned blocks_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return unsigned(b < 65535 * 32 ? b : 65535 * 32);  // grid-stride loops cover the rest
}

// True when every pointer is 16-byte aligned (wide loads allowed).
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Sum / max over a warp, then over a block of up to 1024 threads (result valid in every thread).
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// scratch: __shared__ float[32]. Contains a barrier; call from all threads of the block.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : 0.f;
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nw ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

}  // namespace sp::cuda

// Calls f(Type<T>{}) with T the CUDA element type of a float DType (hand-written switch, one
// place). The .cu files are compiled as C++17 (nvcc cannot parse fmt's headers in C++20 mode), so
// the element type travels as a tag: `[&](auto tag) { using T = typename decltype(tag)::type; }`.
namespace sp::cuda {
template <typename T>
struct Type {
  using type = T;
};
template <typename F>
void dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: f(Type<float>{}); return;
    case DType::BF16: f(Type<__nv_bfloat16>{}); return;
    case DType::F16: f(Type<__half>{}); return;
    default: fail_dtype(op, t);
  }
}
}  // namespace sp::cuda
