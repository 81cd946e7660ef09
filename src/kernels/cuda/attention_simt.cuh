#pragma once
// Flash-style causal GQA attention on the CUDA cores: any float dtype, fp32 arithmetic throughout
// (the Exact32 path, and small head_dim such as stories260K's 8).
//
// A block handles kBQ queries of one (window, head). Each query is owned by kTPQ adjacent threads,
// each holding a kDPT-wide slice of q and of the output accumulator in registers. K/V tiles of kBK
// keys are staged in shared memory as fp32, one slice per owner thread padded by 16 bytes so the
// kTPQ slices of a key sit in different banks. Softmax is online (running max and sum per query):
// no [q_len, kv_len] matrix exists anywhere. kCap compiles the soft-capping in (a separate
// instantiation, so the uncapped kernels keep their arithmetic).
#include "kernels/cuda/common.cuh"

namespace sp::cuda {

struct AttnArgs {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int q_len, kv_len, kv_stride, q_offset;
  int n_heads, group;     // group = n_heads / n_kv_heads
  int64_t q_row, kv_row;  // row lengths in elements (n_heads * head_dim, n_kv_heads * head_dim)
  int head_dim;           // at most the kernel's D (the SIMT kernel zero-fills dims head_dim..D-1)
  float scale;
  int window;     // > 0: query at position p sees keys p - window < j <= p
  float softcap;  // > 0 (kernels instantiated with kCap): score = softcap * tanh(score / softcap)
  // Query positions on the device ([batch * q_len], consecutive in a window), or null: window b's
  // q_offset and kv_len (at most the one above) are read from them (ops::AttentionShape::positions).
  const int32_t* pos;
};

// The arguments of window b: q_offset and kv_len from the positions when given.
__device__ __forceinline__ AttnArgs attn_window_args(const AttnArgs& in, int b) {
  AttnArgs a = in;
  if (in.pos != nullptr) {
    const int32_t* p = in.pos + int64_t(b) * in.q_len;
    a.q_offset = p[0];
    a.kv_len = min(in.kv_len, p[in.q_len - 1] + 1);
  }
  return a;
}

// First key any of the queries [q0, ...) may see: 0, or the first query's window start.
__device__ __forceinline__ int attn_first_key(const AttnArgs& a, int q0) {
  return a.window > 0 ? max(0, q0 + a.q_offset - a.window + 1) : 0;
}
// Key j is visible from the query whose last visible key is `last` (its position).
__device__ __forceinline__ bool attn_visible(const AttnArgs& a, int j, int last) {
  return j <= last && j < a.kv_len && (a.window == 0 || j > last - a.window);
}

template <typename T, int D>
struct SimtCfg {
  static constexpr int kDPT = D < 32 ? D : 32;  // dims per thread
  static constexpr int kTPQ = D / kDPT;         // threads per query
  static constexpr int kBQ = 64;                // queries per block
  static constexpr int kBK = 32;                // keys per tile
  static constexpr int kThreads = kBQ * kTPQ;
  static constexpr int kSeg = kDPT + 4;  // padded slice, floats
  static constexpr int kKeyStride = kTPQ * kSeg;
  static constexpr size_t kSmem = size_t(2) * kBK * kKeyStride * sizeof(float);
};

template <typename T, int D, bool kCap>
__global__ void __launch_bounds__(SimtCfg<T, D>::kThreads) attention_simt_kernel(const AttnArgs args) {
  using C = SimtCfg<T, D>;
  constexpr int kDPT = C::kDPT, kTPQ = C::kTPQ, kBQ = C::kBQ, kBK = C::kBK;
  extern __shared__ float4 smem4[];
  float* ks = reinterpret_cast<float*>(smem4);
  float* vs = ks + kBK * C::kKeyStride;

  const int b = blockIdx.z, h = blockIdx.y, kvh = h / args.group;
  const AttnArgs a = attn_window_args(args, b);
  const int q0 = blockIdx.x * kBQ;
  const int qi = q0 + int(threadIdx.x) / kTPQ, seg = int(threadIdx.x) % kTPQ;
  const bool q_valid = qi < a.q_len;

  // A head_dim below D (one that has no kernel of its own, e.g. 24) runs in D's kernel with the
  // dims past head_dim read as zeros: they add nothing to the scores, and their outputs are not written.
  const int hd = a.head_dim;
  const T* qp = static_cast<const T*>(a.q) + (int64_t(b) * a.q_len + (q_valid ? qi : 0)) * a.q_row +
                int64_t(h) * hd + seg * kDPT;
  float q[kDPT], o[kDPT];
#pragma unroll
  for (int d = 0; d < kDPT; ++d) {
    q[d] = q_valid && seg * kDPT + d < hd ? to_f32(qp[d]) : 0.f;
    o[d] = 0.f;
  }
  float m = -INFINITY, l = 0.f;

  const int q_last = min(q0 + kBQ, a.q_len) - 1;
  const int kv_end = min(a.kv_len, q_last + a.q_offset + 1);
  const int my_last_key = qi + a.q_offset;  // keys j <= my_last_key are visible
  const T* kbase = static_cast<const T*>(a.k) + int64_t(b) * a.kv_stride * a.kv_row + int64_t(kvh) * hd;
  const T* vbase = static_cast<const T*>(a.v) + int64_t(b) * a.kv_stride * a.kv_row + int64_t(kvh) * hd;

  for (int kv0 = attn_first_key(a, q0) / kBK * kBK; kv0 < kv_end; kv0 += kBK) {
    __syncthreads();  // previous tile fully consumed
    for (int e = threadIdx.x; e < kBK * D; e += C::kThreads) {
      const int kk = e / D, d = e % D, j = kv0 + kk;
      const int at = kk * C::kKeyStride + (d / kDPT) * C::kSeg + d % kDPT;
      const bool in = j < a.kv_len && d < hd;
      ks[at] = in ? to_f32(kbase[int64_t(j) * a.kv_row + d]) : 0.f;
      vs[at] = in ? to_f32(vbase[int64_t(j) * a.kv_row + d]) : 0.f;
    }
    __syncthreads();
#pragma unroll 1
    for (int kk = 0; kk < kBK; kk += 8) {
      float s[8];
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        const float* kr = ks + (kk + u) * C::kKeyStride + seg * C::kSeg;
        float acc = 0.f;
#pragma unroll
        for (int d = 0; d < kDPT; d += 4) {
          const float4 k4 = *reinterpret_cast<const float4*>(kr + d);
          acc = fmaf(q[d], k4.x, acc);
          acc = fmaf(q[d + 1], k4.y, acc);
          acc = fmaf(q[d + 2], k4.z, acc);
          acc = fmaf(q[d + 3], k4.w, acc);
        }
#pragma unroll
        for (int off = 1; off < kTPQ; off <<= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
        const int j = kv0 + kk + u;
        if constexpr (kCap) {
          s[u] = attn_visible(a, j, my_last_key) ? a.softcap * tanhf(acc * a.scale / a.softcap) : -INFINITY;
        } else {
          s[u] = attn_visible(a, j, my_last_key) ? acc * a.scale : -INFINITY;
        }
      }
      float mx = m;
#pragma unroll
      for (int u = 0; u < 8; ++u) mx = fmaxf(mx, s[u]);
      if (mx == -INFINITY) continue;  // nothing visible yet for this query
      const float corr = expf(m - mx);
      m = mx;
      l *= corr;
#pragma unroll
      for (int d = 0; d < kDPT; ++d) o[d] *= corr;
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        const float p = expf(s[u] - mx);
        l += p;
        const float* vr = vs + (kk + u) * C::kKeyStride + seg * C::kSeg;
#pragma unroll
        for (int d = 0; d < kDPT; d += 4) {
          const float4 v4 = *reinterpret_cast<const float4*>(vr + d);
          o[d] = fmaf(p, v4.x, o[d]);
          o[d + 1] = fmaf(p, v4.y, o[d + 1]);
          o[d + 2] = fmaf(p, v4.z, o[d + 2]);
          o[d + 3] = fmaf(p, v4.w, o[d + 3]);
        }
      }
    }
  }
  if (!q_valid) return;
  const float inv = l > 0.f ? 1.f / l : 0.f;
  T* op = static_cast<T*>(a.out) + (int64_t(b) * a.q_len + qi) * a.q_row + int64_t(h) * hd + seg * kDPT;
#pragma unroll
  for (int d = 0; d < kDPT; ++d)
    if (seg * kDPT + d < hd) op[d] = from_f32<T>(o[d] * inv);
}

}  // namespace sp::cuda
