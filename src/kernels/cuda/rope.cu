// Rotate-half RoPE in place (Hugging Face layout: the first and second halves of each head's first
// rotary_dim dims form the pairs; the rest of the head passes through). inv_freq comes from the host (model/rope.h, the
// config's rope type) and is passed by value, so the CPU and CUDA bodies rotate by the same frequencies.
#include <algorithm>
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

// rope_kernel and kv_cache_write at once for a fused q / k / v product: block (t, slot) takes head
// `slot` of row t's [q heads | k heads | v heads]; a q head goes rotated to q, a k head rotated and a
// v head as is to the cache row of position pos[t] (skipped outside [0, capacity)). The rotation is
// rope_kernel's, expression for expression (same bits); each block computes its own cos / sin.
template <typename T>
__global__ void rope_kv_write_kernel(const T* __restrict__ qkv, const int32_t* __restrict__ pos, int seqlen,
                                     int capacity, int heads, int kv_heads, int head_dim, int half, const InvFreq inv,
                                     float attention_factor, T* __restrict__ q, T* __restrict__ k_cache,
                                     T* __restrict__ v_cache) {
  const int64_t t = blockIdx.x;
  const int slot = int(blockIdx.y);
  const T* src = qkv + t * int64_t(heads + 2 * kv_heads) * head_dim + int64_t(slot) * head_dim;
  const int32_t position = pos[t];
  T* dst;
  if (slot < heads) {
    dst = q + (t * heads + slot) * head_dim;
  } else {
    if (position < 0 || position >= capacity) return;
    const bool is_k = slot < heads + kv_heads;
    const int head = is_k ? slot - heads : slot - heads - kv_heads;
    dst = (is_k ? k_cache : v_cache) + ((t / seqlen * capacity + position) * kv_heads + head) * head_dim;
  }
  const bool rotate = slot < heads + kv_heads;
  if (rotate) {
    const float p = float(position);
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
      float sn, cs;
      sincosf(p * inv.v[i], &sn, &cs);
      sn *= attention_factor;
      cs *= attention_factor;
      const float a = to_f32(src[i]), b = to_f32(src[i + half]);
      dst[i] = from_f32<T>(a * cs - b * sn);
      dst[i + half] = from_f32<T>(b * cs + a * sn);
    }
  }
  for (int i = (rotate ? 2 * half : 0) + int(threadIdx.x); i < head_dim; i += blockDim.x) dst[i] = src[i];
}

InvFreq inv_freq_arg(const std::vector<float>& inv_freq, int rotary_dim) {
  const int half = rotary_dim / 2;
  if (rotary_dim % 2 != 0 || half > kMaxHalf)
    fail_input("rope: rotary_dim " + std::to_string(rotary_dim) + " must be even and at most " +
               std::to_string(2 * kMaxHalf));
  InvFreq inv{};
  for (int i = 0; i < half; ++i) inv.v[i] = inv_freq[size_t(i)];
  return inv;
}

}  // namespace

void rope_kv_write(ExecContext& ctx, const Tensor& qkv, const Tensor& positions, int seqlen, const ops::RopeArgs& r,
                   Tensor& k_cache, Tensor& v_cache, Tensor& q) {
  const int64_t rows = qkv.dim(0);
  if (rows == 0) return;
  const InvFreq inv = inv_freq_arg(*r.inv_freq, r.rotary_dim);
  const int capacity = int(k_cache.dim(0) / (rows / seqlen));
  const int threads = std::min(128, (r.head_dim / 2 + 31) / 32 * 32);
  const dim3 grid(unsigned(rows), unsigned(r.heads + 2 * r.kv_heads));
  dispatch_float(qkv.dtype(), "rope_kv_write", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rope_kv_write_kernel<T><<<grid, threads, 0, stream_of(ctx)>>>(
        qkv.data<T>(), positions.data<int32_t>(), seqlen, capacity, r.heads, r.kv_heads, r.head_dim, r.rotary_dim / 2,
        inv, r.attention_factor, q.data<T>(), k_cache.data<T>(), v_cache.data<T>());
    SP_CUDA_CHECK_LAUNCH();
  });
}

void rope(ExecContext& ctx, Tensor& x, const Tensor& positions, int heads, int head_dim, int rotary_dim,
          const std::vector<float>& inv_freq, float attention_factor) {
  const int64_t rows = x.dim(0);
  if (rows == 0) return;
  const int half = rotary_dim / 2;
  const InvFreq inv = inv_freq_arg(inv_freq, rotary_dim);
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
