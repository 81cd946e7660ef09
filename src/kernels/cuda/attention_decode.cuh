#pragma once
// Split-KV attention for one query per window (a decode step), any float dtype, fp32 arithmetic.
// The tiled kernels give a window's head one block that walks every key: at decode that is a few
// dozen blocks, each with a long serial walk, whatever the card's size. Here the keys are split
// into chunks, one block per (chunk, KV head, window): the block's warps share the chunk's keys,
// each lane holding D / 32 dims of the query and output of every query head of the KV head's group
// (K and V are read once for the group), with an online softmax; the warps' states merge in shared
// memory into one partial (max, sum, output) per chunk, and a second kernel merges the chunks.
#include "kernels/cuda/attention_simt.cuh"

namespace sp::cuda {

inline constexpr int kDecodeMaxGroup = 8;  // query heads per KV head (LLaMA-2-70B: 8)
inline constexpr int kDecodeWarps = 4;

template <typename T, int D, bool kCap>
__global__ void __launch_bounds__(kDecodeWarps * 32)
    attention_decode_kernel(const AttnArgs args, int chunk, int n_splits, float* __restrict__ part_o,
                            float2* __restrict__ part_ml) {
  constexpr int kDPL = D / 32;                                // dims per lane
  constexpr int kUnroll = D >= 256 ? 1 : (D >= 128 ? 2 : 4);  // keys in flight per warp
  constexpr int G = kDecodeMaxGroup;
  __shared__ float sm_o[kDecodeWarps][G][D];
  __shared__ float sm_m[kDecodeWarps][G], sm_l[kDecodeWarps][G];
  const int split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const AttnArgs a = attn_window_args(args, b);
  const int warp = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31;
  const int group = a.group, hd = a.head_dim, last = a.q_offset;  // q_len 1: the query's position
  int lo = split * chunk;
  const int hi = min(lo + chunk, min(a.kv_len, last + 1));
  if (a.window > 0) lo = max(lo, last - a.window + 1);

  float q[G][kDPL], o[G][kDPL], m[G], l[G];
  const T* qp = static_cast<const T*>(a.q) + int64_t(b) * a.q_row + int64_t(kvh) * group * hd;
#pragma unroll
  for (int h = 0; h < G; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.f;
#pragma unroll
    for (int i = 0; i < kDPL; ++i) {
      const int d = lane * kDPL + i;
      q[h][i] = h < group && d < hd ? to_f32(qp[h * hd + d]) : 0.f;
      o[h][i] = 0.f;
    }
  }
  const T* kb = static_cast<const T*>(a.k) + int64_t(b) * a.kv_stride * a.kv_row + int64_t(kvh) * hd;
  const T* vb = static_cast<const T*>(a.v) + int64_t(b) * a.kv_stride * a.kv_row + int64_t(kvh) * hd;
  for (int j0 = lo + warp * kUnroll; j0 < hi; j0 += kDecodeWarps * kUnroll) {
    float kr[kUnroll][kDPL], vr[kUnroll][kDPL];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int i = 0; i < kDPL; ++i) {
        const int j = j0 + u, d = lane * kDPL + i;
        const bool in = j < hi && d < hd;
        kr[u][i] = in ? to_f32(kb[int64_t(j) * a.kv_row + d]) : 0.f;
        vr[u][i] = in ? to_f32(vb[int64_t(j) * a.kv_row + d]) : 0.f;
      }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (j0 + u >= hi) break;
#pragma unroll
      for (int h = 0; h < G; ++h) {
        if (h >= group) break;
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < kDPL; ++i) s = fmaf(q[h][i], kr[u][i], s);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
        if constexpr (kCap) {
          s = a.softcap * tanhf(s * a.scale / a.softcap);
        } else {
          s *= a.scale;
        }
        const float mn = fmaxf(m[h], s), corr = expf(m[h] - mn), p = expf(s - mn);
        m[h] = mn;
        l[h] = l[h] * corr + p;
#pragma unroll
        for (int i = 0; i < kDPL; ++i) o[h][i] = fmaf(p, vr[u][i], o[h][i] * corr);
      }
    }
  }
  // The warps' states into shared memory, then one partial per query head of the group.
#pragma unroll
  for (int h = 0; h < G; ++h) {
    if (h >= group) break;
    if (lane == 0) {
      sm_m[warp][h] = m[h];
      sm_l[warp][h] = l[h];
    }
#pragma unroll
    for (int i = 0; i < kDPL; ++i) sm_o[warp][h][lane * kDPL + i] = o[h][i];
  }
  __syncthreads();
  const int n_heads = a.n_heads;
  for (int e = int(threadIdx.x); e < group * D; e += kDecodeWarps * 32) {
    const int h = e / D, d = e % D;
    float mx = -INFINITY;
    for (int w = 0; w < kDecodeWarps; ++w) mx = fmaxf(mx, sm_m[w][h]);
    float acc = 0.f, sum = 0.f;
    if (mx != -INFINITY)  // else no key of this chunk is visible: an empty partial
      for (int w = 0; w < kDecodeWarps; ++w) {
        const float c = sm_m[w][h] == -INFINITY ? 0.f : expf(sm_m[w][h] - mx);
        acc += c * sm_o[w][h][d];
        sum += c * sm_l[w][h];
      }
    const int64_t at = (int64_t(b) * n_heads + int64_t(kvh) * group + h) * n_splits + split;
    part_o[at * D + d] = acc;
    if (d == 0) part_ml[at] = make_float2(mx, sum);
  }
}

// out[b, h, :] = the chunks' partials merged: sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s.
template <typename T, int D>
__global__ void attention_decode_merge_kernel(const float* __restrict__ part_o, const float2* __restrict__ part_ml,
                                              int n_splits, int n_heads, int hd, int64_t q_row, T* __restrict__ out) {
  const int h = blockIdx.x, b = blockIdx.y;
  const int64_t base = (int64_t(b) * n_heads + h) * n_splits;
  float mx = -INFINITY;
  for (int s = 0; s < n_splits; ++s) mx = fmaxf(mx, part_ml[base + s].x);
  float sum = 0.f;
  if (mx != -INFINITY)
    for (int s = 0; s < n_splits; ++s) {
      const float2 ml = part_ml[base + s];
      if (ml.x != -INFINITY) sum += ml.y * expf(ml.x - mx);
    }
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  for (int d = int(threadIdx.x); d < hd; d += blockDim.x) {
    float acc = 0.f;
    if (mx != -INFINITY)
      for (int s = 0; s < n_splits; ++s) {
        const float2 ml = part_ml[base + s];
        if (ml.x != -INFINITY) acc += expf(ml.x - mx) * part_o[(base + s) * D + d];
      }
    out[int64_t(b) * q_row + int64_t(h) * hd + d] = from_f32<T>(acc * inv);
  }
}

}  // namespace sp::cuda
