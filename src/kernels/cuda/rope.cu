// Rotate-half RoPE in place (Hugging Face layout: the first and second halves of each head's first
// rotary_dim dims form the pairs; the rest of the head passes through). inv_freq comes from the host (model/rope.h, the
// config's rope type) and is passed by value, so the CPU and CUDA bodies rotate by the same frequencies.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sp::cuda {
namespace {

constexpr int kMaxHalf = 256;  // rotary_dim up to 512

struct InvFreq {
  float v[kMaxHalf];
};

// One block per token row. The row's half cos/sin pairs are computed once into shared memory
// (accurate sincosf is the expensive part; every head of the row reuses them), then the threads
// walk the (head, i) pairs of the row.
template <typename T>
__global__ void rope_kernel(T* __restrict__ x, const int32_t* __restrict__ pos, int heads, int head_dim, int half,
                            int64_t row_len, const InvFreq inv, float attention_factor) {
  __shared__ float cs[kMaxHalf], sn[kMaxHalf];
  const int64_t t = blockIdx.x;
  const float p = float(pos[t]);
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    sincosf(p * inv.v[i], &sn[i], &cs[i]);
    sn[i] *= attention_factor;  // transformers: cos() * attention_scaling, sin() * attention_scaling
    cs[i] *= attention_factor;
  }
  __syncthreads();
  T* row = x + t * row_len;
  for (int j = threadIdx.x; j < heads * half; j += blockDim.x) {
    const int h = j / half, i = j - h * half;
    const float s = sn[i], c = cs[i];
    T* head = row + int64_t(h) * head_dim;
    const float a = to_f32(head[i]), b = to_f32(head[i + half]);
    head[i] = from_f32<T>(a * c - b * s);         // x1*cos + (-x2)*sin
    head[i + half] = from_f32<T>(b * c + a * s);  // x2*cos + x1*sin
  }
}

}  // namespace

void rope(ExecContext& ctx, Tensor& x, const Tensor& positions, int heads, int head_dim, int rotary_dim,
          const std::vector<float>& inv_freq, float attention_factor) {
  const int64_t rows = x.dim(0);
  if (rows == 0) return;
  const int half = rotary_dim / 2;
  if (rotary_dim % 2 != 0 || half > kMaxHalf)
    fail_input("rope: rotary_dim " + std::to_string(rotary_dim) + " must be even and at most " +
               std::to_string(2 * kMaxHalf));
  InvFreq inv{};
  for (int i = 0; i < half; ++i) inv.v[i] = inv_freq[size_t(i)];
  const int pairs = heads * half;
  const int threads = pairs >= 256 ? 256 : (pairs + 31) / 32 * 32;
  dispatch_float(x.dtype(), "rope", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rope_kernel<T><<<unsigned(rows), threads, 0, stream_of(ctx)>>>(x.data<T>(), positions.data<int32_t>(), heads,
                                                                   head_dim, half, x.dim(1), inv, attention_factor);
    SP_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace sp::cuda
