// Causal grouped-query attention: host-side dispatch over dtype, head_dim and soft-capping (one query
// per window: the split-KV decode kernel); the KV-cache append.
// bf16 / f16 with head_dim 16, 32, 64 or 128 run on the tensor cores (attention_mma.cuh); fp32, head_dim 8,
// 256 (whose register tile would spill) and any other head_dim up to 256 run on the CUDA cores
// (attention_simt.cuh). Both tile K/V through shared
// memory with an online softmax, so memory use is independent of the window length.
#include <algorithm>
#include <type_traits>

#include "kernels/cuda/attention_decode.cuh"
#include "kernels/cuda/attention_mma.cuh"
#include "kernels/cuda/attention_simt.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sp::cuda {
namespace {

template <typename T, int D, bool kCap>
void launch_simt(const AttnArgs& a, int batch, cudaStream_t stream) {
  using C = SimtCfg<T, D>;
  // head_dim 256 stages more than the default 48 KB of dynamic shared memory. The attribute is
  // per device: set it on every launch (a cheap host call).
  if constexpr (C::kSmem > 48 * 1024)
    SP_CUDA_CHECK(cudaFuncSetAttribute(attention_simt_kernel<T, D, kCap>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       int(C::kSmem)));
  const dim3 grid(unsigned((a.q_len + C::kBQ - 1) / C::kBQ), unsigned(a.n_heads), unsigned(batch));
  attention_simt_kernel<T, D, kCap><<<grid, C::kThreads, C::kSmem, stream>>>(a);
  SP_CUDA_CHECK_LAUNCH();
}

template <typename T, int D, bool kCap>
void launch_mma(const AttnArgs& a, int batch, cudaStream_t stream) {
  using C = MmaCfg<D>;
  // Two K/V stages exceed the default 48 KB of dynamic shared memory for head_dim 128.
  SP_CUDA_CHECK(cudaFuncSetAttribute(attention_mma_kernel<T, D, kCap>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     int(C::kSmem)));
  const dim3 grid(unsigned((a.q_len + C::kBQ - 1) / C::kBQ), unsigned(a.n_heads), unsigned(batch));
  attention_mma_kernel<T, D, kCap><<<grid, C::kThreads, C::kSmem, stream>>>(a);
  SP_CUDA_CHECK_LAUNCH();
}

// The kernel of the smallest D >= head_dim (one of 8, 16, ..., 256; the dims above head_dim read as zeros).
template <typename T, bool kCap>
void launch_simt_any(const AttnArgs& a, int d, int batch, cudaStream_t stream) {
  if (d <= 8) return launch_simt<T, 8, kCap>(a, batch, stream);
  if (d <= 16) return launch_simt<T, 16, kCap>(a, batch, stream);
  if (d <= 32) return launch_simt<T, 32, kCap>(a, batch, stream);
  if (d <= 64) return launch_simt<T, 64, kCap>(a, batch, stream);
  if (d <= 128) return launch_simt<T, 128, kCap>(a, batch, stream);
  if (d <= 256) return launch_simt<T, 256, kCap>(a, batch, stream);
  fail_input("attention: head_dim " + std::to_string(d) + " is not supported on CUDA (at most 256)");
}

template <typename T, bool kCap>
void launch_any(const AttnArgs& a, int d, bool mma_ok, int batch, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, float>) {
    launch_simt_any<T, kCap>(a, d, batch, stream);
  } else {
    if (!mma_ok) return launch_simt_any<T, kCap>(a, d, batch, stream);
    switch (d) {
      case 16:
        return launch_mma<T, 16, kCap>(a, batch, stream);
      case 32:
        return launch_mma<T, 32, kCap>(a, batch, stream);
      case 64:
        return launch_mma<T, 64, kCap>(a, batch, stream);
      default:
        return launch_mma<T, 128, kCap>(a, batch, stream);
    }
  }
}

template <typename T, int D, bool kCap>
void launch_decode_d(ExecContext& ctx, const AttnArgs& a, int batch, int n_kv_heads) {
  // Enough chunks for about two blocks per SM, chunks of at least 32 keys of the bound kv_len (with
  // positions, the capacity: the split is fixed when a step is recorded; chunks past a window's
  // length are empty partials).
  int dev = 0, sms = 0;
  SP_CUDA_CHECK(cudaGetDevice(&dev));
  SP_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  const int blocks = n_kv_heads * batch;
  const int n_splits = std::max(1, std::min((2 * sms + blocks - 1) / blocks, (a.kv_len + 31) / 32));
  const int chunk = (a.kv_len + n_splits - 1) / n_splits;
  const int64_t parts = int64_t(batch) * a.n_heads * n_splits;
  Tensor part_o = Tensor::empty({parts * D}, DType::F32, ctx.device());
  Tensor part_ml = Tensor::empty({parts * 2}, DType::F32, ctx.device());
  const cudaStream_t stream = stream_of(ctx);
  auto* ml = reinterpret_cast<float2*>(part_ml.data<float>());
  attention_decode_kernel<T, D, kCap>
      <<<dim3(unsigned(n_splits), unsigned(n_kv_heads), unsigned(batch)), kDecodeWarps * 32, 0, stream>>>(
          a, chunk, n_splits, part_o.data<float>(), ml);
  SP_CUDA_CHECK_LAUNCH();
  constexpr int kMergeThreads = D < 128 ? 64 : 128;
  attention_decode_merge_kernel<T, D><<<dim3(unsigned(a.n_heads), unsigned(batch)), kMergeThreads, 0, stream>>>(
      part_o.data<float>(), ml, n_splits, a.n_heads, a.head_dim, a.q_row, static_cast<T*>(a.out));
  SP_CUDA_CHECK_LAUNCH();
}

// A decode step (q_len 1, at most kDecodeMaxGroup query heads per KV head): the split-KV kernel of
// the smallest D of 32, 64, 128, 256 that holds head_dim.
template <typename T, bool kCap>
void launch_decode(ExecContext& ctx, const AttnArgs& a, int batch, int n_kv_heads) {
  if (a.head_dim <= 32) return launch_decode_d<T, 32, kCap>(ctx, a, batch, n_kv_heads);
  if (a.head_dim <= 64) return launch_decode_d<T, 64, kCap>(ctx, a, batch, n_kv_heads);
  if (a.head_dim <= 128) return launch_decode_d<T, 128, kCap>(ctx, a, batch, n_kv_heads);
  launch_decode_d<T, 256, kCap>(ctx, a, batch, n_kv_heads);
}

// Row t of x into row (t / seqlen) * capacity + pos[t] of the cache, in 4-byte words (W: words
// per row); a position outside [0, capacity) is skipped. One block per row.
__global__ void kv_cache_write_kernel(uint32_t* __restrict__ cache, const uint32_t* __restrict__ x,
                                      const int32_t* __restrict__ pos, int seqlen, int capacity, int64_t words) {
  const int64_t t = blockIdx.x;
  const int32_t p = pos[t];
  if (p < 0 || p >= capacity) return;
  uint32_t* dst = cache + (t / seqlen * capacity + p) * words;
  const uint32_t* src = x + t * words;
  for (int64_t i = threadIdx.x; i < words; i += blockDim.x) dst[i] = src[i];
}
// The same in bytes, for rows of an odd byte count.
__global__ void kv_cache_write_bytes_kernel(unsigned char* __restrict__ cache, const unsigned char* __restrict__ x,
                                            const int32_t* __restrict__ pos, int seqlen, int capacity, int64_t bytes) {
  const int64_t t = blockIdx.x;
  const int32_t p = pos[t];
  if (p < 0 || p >= capacity) return;
  unsigned char* dst = cache + (t / seqlen * capacity + p) * bytes;
  const unsigned char* src = x + t * bytes;
  for (int64_t i = threadIdx.x; i < bytes; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

void kv_cache_write(ExecContext& ctx, Tensor& cache, const Tensor& x, const Tensor& positions, int seqlen) {
  const int64_t rows = x.dim(0);
  if (rows == 0) return;
  const int capacity = int(cache.dim(0) / (rows / seqlen));
  const int64_t bytes = x.dim(1) * int64_t(dtype_size(x.dtype()));
  const cudaStream_t stream = stream_of(ctx);
  if (bytes % 4 == 0 && (reinterpret_cast<uintptr_t>(cache.raw()) & 3u) == 0 &&
      (reinterpret_cast<uintptr_t>(x.raw()) & 3u) == 0) {
    const int64_t words = bytes / 4;
    const int threads = words >= 256 ? 256 : int((words + 31) / 32 * 32);
    kv_cache_write_kernel<<<unsigned(rows), threads, 0, stream>>>(static_cast<uint32_t*>(cache.raw()),
                                                                  static_cast<const uint32_t*>(x.raw()),
                                                                  positions.data<int32_t>(), seqlen, capacity, words);
  } else {
    kv_cache_write_bytes_kernel<<<unsigned(rows), 256, 0, stream>>>(static_cast<unsigned char*>(cache.raw()),
                                                                    static_cast<const unsigned char*>(x.raw()),
                                                                    positions.data<int32_t>(), seqlen, capacity, bytes);
  }
  SP_CUDA_CHECK_LAUNCH();
}

void attention(ExecContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionShape& s,
               Tensor& out) {
  if (s.batch == 0 || s.q_len == 0) return;
  AttnArgs a{};
  a.q = q.raw();
  a.k = k.raw();
  a.v = v.raw();
  a.out = out.raw();
  a.q_len = s.q_len;
  a.kv_len = s.kv_len;
  a.kv_stride = s.kv_stride;
  a.q_offset = s.q_offset;
  a.n_heads = s.n_heads;
  a.group = s.n_heads / s.n_kv_heads;
  a.head_dim = s.head_dim;
  a.q_row = int64_t(s.n_heads) * s.head_dim;
  a.kv_row = int64_t(s.n_kv_heads) * s.head_dim;
  a.scale = s.scale;
  a.window = s.window;
  a.softcap = s.softcap;
  a.pos = s.positions != nullptr ? s.positions->data<int32_t>() : nullptr;
  const int d = s.head_dim;
  const cudaStream_t stream = stream_of(ctx);
  const bool mma_ok = (d == 16 || d == 32 || d == 64 || d == 128) && aligned16(k.raw()) && aligned16(v.raw()) &&
                      (reinterpret_cast<uintptr_t>(q.raw()) & 3u) == 0 &&
                      (reinterpret_cast<uintptr_t>(out.raw()) & 3u) == 0;
  const bool decode = s.q_len == 1 && a.group <= kDecodeMaxGroup && d <= 256;
  dispatch_float(q.dtype(), "attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (decode) {
      if (s.softcap > 0.f) return launch_decode<T, true>(ctx, a, s.batch, s.n_kv_heads);
      return launch_decode<T, false>(ctx, a, s.batch, s.n_kv_heads);
    }
    if (s.softcap > 0.f) return launch_any<T, true>(a, d, mma_ok, s.batch, stream);
    launch_any<T, false>(a, d, mma_ok, s.batch, stream);
  });
}

}  // namespace sp::cuda
