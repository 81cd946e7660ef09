// RMSNorm and LayerNorm: one block per row, fp32 statistics, 16-byte loads when the row allows.
// The row is read twice (statistics, then output; three times for LayerNorm's two-pass variance):
// the re-reads hit L1/L2, so device memory sees about one read and one write per element.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sp::cuda {
namespace {

// Visits the elements of one row owned by this thread as floats: f(index, value).
template <typename T, bool kWide, typename F>
__device__ __forceinline__ void for_row(const T* row, int64_t h, F&& f) {
  if constexpr (kWide) {
    using V = Vec16<T>;
    for (int64_t i = threadIdx.x; i < h / V::kN; i += blockDim.x) {
      const V v = reinterpret_cast<const V*>(row)[i];
#pragma unroll
      for (int k = 0; k < V::kN; ++k) f(i * V::kN + k, to_f32(v.v[k]));
    }
  } else {
    for (int64_t i = threadIdx.x; i < h; i += blockDim.x) f(i, to_f32(row[i]));
  }
}

template <typename T, bool kWide>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, int64_t h,
                                float eps, float w_offset) {
  __shared__ float scratch[32];
  const T* row = x + int64_t(blockIdx.x) * h;
  T* out = y + int64_t(blockIdx.x) * h;
  float ss = 0.f;
  for_row<T, kWide>(row, h, [&](int64_t, float v) { ss += v * v; });
  ss = block_sum(ss, scratch);
  const float inv = 1.f / sqrtf(ss / float(h) + eps);
  // w_offset 0 keeps w as is (not w + 0, which would turn -0 into +0).
  for_row<T, kWide>(row, h, [&](int64_t i, float v) {
    const float wi = w_offset == 0.f ? to_f32(w[i]) : w_offset + to_f32(w[i]);
    out[i] = from_f32<T>(v * inv * wi);
  });
}

// Visits the indices of one row owned by this thread in for_row's order (so a sum over them rounds
// as for_row's does), element by element.
template <typename T, bool kWide, typename F>
__device__ __forceinline__ void for_index(int64_t h, F&& f) {
  if constexpr (kWide) {
    constexpr int kN = Vec16<T>::kN;
    for (int64_t i = threadIdx.x; i < h / kN; i += blockDim.x)
#pragma unroll
      for (int k = 0; k < kN; ++k) f(i * kN + k);
  } else {
    for (int64_t i = threadIdx.x; i < h; i += blockDim.x) f(i);
  }
}

// add then rms_norm_kernel on the sum, bit for bit: each thread rounds its elements of x + y to T,
// stores them, and sums their squares in rms_norm_kernel's order (kWide as rms_norm would pick for x).
template <typename T, bool kWide>
__global__ void add_rms_norm_kernel(T* __restrict__ x, const T* __restrict__ y, const T* __restrict__ w,
                                    T* __restrict__ out, int64_t h, float eps, float w_offset) {
  __shared__ float scratch[32];
  T* row = x + int64_t(blockIdx.x) * h;
  const T* add = y + int64_t(blockIdx.x) * h;
  T* o = out + int64_t(blockIdx.x) * h;
  float ss = 0.f;
  for_index<T, kWide>(h, [&](int64_t i) {
    const T s = from_f32<T>(to_f32(row[i]) + to_f32(add[i]));
    row[i] = s;
    const float v = to_f32(s);
    ss += v * v;
  });
  ss = block_sum(ss, scratch);
  const float inv = 1.f / sqrtf(ss / float(h) + eps);
  for_index<T, kWide>(h, [&](int64_t i) {  // this thread's own stores: no barrier needed
    const float v = to_f32(row[i]);
    const float wi = w_offset == 0.f ? to_f32(w[i]) : w_offset + to_f32(w[i]);
    o[i] = from_f32<T>(v * inv * wi);
  });
}

template <typename T, bool kWide>
__global__ void layer_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                  T* __restrict__ y, int64_t h, float eps) {
  __shared__ float scratch[32];
  const T* row = x + int64_t(blockIdx.x) * h;
  T* out = y + int64_t(blockIdx.x) * h;
  float s = 0.f;
  for_row<T, kWide>(row, h, [&](int64_t, float v) { s += v; });
  const float mean = block_sum(s, scratch) / float(h);
  float sq = 0.f;
  for_row<T, kWide>(row, h, [&](int64_t, float v) { sq += (v - mean) * (v - mean); });
  const float inv = 1.f / sqrtf(block_sum(sq, scratch) / float(h) + eps);
  for_row<T, kWide>(row, h,
                    [&](int64_t i, float v) { out[i] = from_f32<T>((v - mean) * inv * to_f32(w[i]) + to_f32(b[i])); });
}

int threads_for(int64_t h, int per_thread) {
  const int64_t need = (h / per_thread + 31) / 32 * 32;
  return int(need < 32 ? 32 : need > 512 ? 512 : need);
}

}  // namespace

void rms_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, float eps, float w_offset, Tensor& y) {
  const int64_t rows = x.dim(0), h = x.dim(1);
  if (rows == 0) return;
  dispatch_float(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool wide = h % Vec16<T>::kN == 0 && aligned16(x.raw());
    const int threads = threads_for(h, wide ? Vec16<T>::kN : 1);
    if (wide)
      rms_norm_kernel<T, true>
          <<<unsigned(rows), threads, 0, stream_of(ctx)>>>(x.data<T>(), w.data<T>(), y.data<T>(), h, eps, w_offset);
    else
      rms_norm_kernel<T, false>
          <<<unsigned(rows), threads, 0, stream_of(ctx)>>>(x.data<T>(), w.data<T>(), y.data<T>(), h, eps, w_offset);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void add_rms_norm(ExecContext& ctx, Tensor& x, const Tensor& y, const Tensor& w, float eps, float w_offset,
                  Tensor& out) {
  const int64_t rows = x.dim(0), h = x.dim(1);
  if (rows == 0) return;
  dispatch_float(x.dtype(), "add_rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool wide = h % Vec16<T>::kN == 0 && aligned16(x.raw());  // rms_norm's choice, for its order
    const int threads = threads_for(h, wide ? Vec16<T>::kN : 1);
    if (wide)
      add_rms_norm_kernel<T, true><<<unsigned(rows), threads, 0, stream_of(ctx)>>>(
          x.data<T>(), y.data<T>(), w.data<T>(), out.data<T>(), h, eps, w_offset);
    else
      add_rms_norm_kernel<T, false><<<unsigned(rows), threads, 0, stream_of(ctx)>>>(
          x.data<T>(), y.data<T>(), w.data<T>(), out.data<T>(), h, eps, w_offset);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void layer_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y) {
  const int64_t rows = x.dim(0), h = x.dim(1);
  if (rows == 0) return;
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool wide = h % Vec16<T>::kN == 0 && aligned16(x.raw());
    const int threads = threads_for(h, wide ? Vec16<T>::kN : 1);
    if (wide)
      layer_norm_kernel<T, true>
          <<<unsigned(rows), threads, 0, stream_of(ctx)>>>(x.data<T>(), w.data<T>(), b.data<T>(), y.data<T>(), h, eps);
    else
      layer_norm_kernel<T, false>
          <<<unsigned(rows), threads, 0, stream_of(ctx)>>>(x.data<T>(), w.data<T>(), b.data<T>(), y.data<T>(), h, eps);
    SP_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace sp::cuda
