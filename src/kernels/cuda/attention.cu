// Causal grouped-query attention: host-side dispatch over dtype and head_dim.
// bf16 / f16 with head_dim % 16 == 0 run on the tensor cores (attention_mma.cuh); fp32 and the
// small head dims run on the CUDA cores (attention_simt.cuh). Both tile K/V through shared memory
// with an online softmax, so memory use is independent of the window length.
#include "kernels/cuda/attention_mma.cuh"
#include "kernels/cuda/attention_simt.cuh"
#include "kernels/cuda/cuda_ops.h"

#include <type_traits>

namespace sp::cuda {
namespace {

template <typename T, int D>
void launch_simt(const AttnArgs& a, int batch, cudaStream_t stream) {
  using C = SimtCfg<T, D>;
  const dim3 grid(unsigned((a.q_len + C::kBQ - 1) / C::kBQ), unsigned(a.n_heads), unsigned(batch));
  attention_simt_kernel<T, D><<<grid, C::kThreads, C::kSmem, stream>>>(a);
  SP_CUDA_CHECK_LAUNCH();
}

template <typename T, int D>
void launch_mma(const AttnArgs& a, int batch, cudaStream_t stream) {
  using C = MmaCfg<D>;
  // Two K/V stages exceed the default 48 KB of dynamic shared memory for head_dim 128. The
  // attribute is per device: set it on every launch (a cheap host call).
  SP_CUDA_CHECK(cudaFuncSetAttribute(attention_mma_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     int(C::kSmem)));
  const dim3 grid(unsigned((a.q_len + C::kBQ - 1) / C::kBQ), unsigned(a.n_heads), unsigned(batch));
  attention_mma_kernel<T, D><<<grid, C::kThreads, C::kSmem, stream>>>(a);
  SP_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_simt_any(const AttnArgs& a, int d, int batch, cudaStream_t stream) {
  switch (d) {
    case 8: return launch_simt<T, 8>(a, batch, stream);
    case 16: return launch_simt<T, 16>(a, batch, stream);
    case 32: return launch_simt<T, 32>(a, batch, stream);
    case 64: return launch_simt<T, 64>(a, batch, stream);
    case 128: return launch_simt<T, 128>(a, batch, stream);
    default: fail_input("attention: head_dim " + std::to_string(d) + " is not supported on CUDA (8, 16, 32, 64, 128)");
  }
}

}  // namespace

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
  a.q_row = int64_t(s.n_heads) * s.head_dim;
  a.kv_row = int64_t(s.n_kv_heads) * s.head_dim;
  a.scale = s.scale;
  const int d = s.head_dim;
  const cudaStream_t stream = stream_of(ctx);
  const bool mma_ok = (d == 16 || d == 32 || d == 64 || d == 128) && aligned16(k.raw()) && aligned16(v.raw()) &&
                      (reinterpret_cast<uintptr_t>(q.raw()) & 3u) == 0 &&
                      (reinterpret_cast<uintptr_t>(out.raw()) & 3u) == 0;
  dispatch_float(q.dtype(), "attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float>) {
      launch_simt_any<T>(a, d, s.batch, stream);
    } else {
      if (!mma_ok) return launch_simt_any<T>(a, d, s.batch, stream);
      switch (d) {
        case 16: return launch_mma<T, 16>(a, s.batch, stream);
        case 32: return launch_mma<T, 32>(a, s.batch, stream);
        case 64: return launch_mma<T, 64>(a, s.batch, stream);
        default: return launch_mma<T, 128>(a, s.batch, stream);
      }
    }
  });
}

}  // namespace sp::cuda
