// CPU bodies of rotate-half RoPE, causal grouped-query attention (F32, optional sliding window
// and score soft-capping), the KV-cache append and the positions' advance.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace sp::cpu {

void rope(Tensor& x, const Tensor& positions, int heads, int head_dim, int rotary_dim,
          const std::vector<float>& inv_freq, float attention_factor) {
  const int half = rotary_dim / 2;  // dims [rotary_dim, head_dim) of a head pass through
  std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
  const int64_t width = int64_t(heads) * head_dim;
  const int32_t* pos = positions.data<int32_t>();
  for (int64_t t = 0; t < x.dim(0); ++t) {
    for (int i = 0; i < half; ++i) {
      const float angle = float(pos[t]) * inv_freq[size_t(i)];
      cs[size_t(i)] = std::cos(angle) * attention_factor;
      sn[size_t(i)] = std::sin(angle) * attention_factor;
    }
    float* row = x.data<float>() + t * width;
    for (int h = 0; h < heads; ++h) {
      float* v = row + int64_t(h) * head_dim;
      for (int i = 0; i < half; ++i) {
        // out = x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1].
        const float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * cs[size_t(i)] - x2 * sn[size_t(i)];
        v[i + half] = x2 * cs[size_t(i)] + x1 * sn[size_t(i)];
      }
    }
  }
}

void kv_cache_write(Tensor& cache, const Tensor& x, const Tensor& positions, int seqlen) {
  const int64_t windows = x.dim(0) / seqlen, capacity = cache.dim(0) / windows;
  const size_t row_bytes = size_t(x.dim(1)) * dtype_size(x.dtype());
  const int32_t* pos = positions.data<int32_t>();
  auto* dst = static_cast<unsigned char*>(cache.raw());
  const auto* src = static_cast<const unsigned char*>(x.raw());
  for (int64_t t = 0; t < x.dim(0); ++t) {
    if (pos[t] < 0 || pos[t] >= capacity) continue;
    std::memcpy(dst + size_t(t / seqlen * capacity + pos[t]) * row_bytes, src + size_t(t) * row_bytes, row_bytes);
  }
}

void rope_kv_write(const Tensor& qkv, const Tensor& positions, int seqlen, const ops::RopeArgs& r, Tensor& k_cache,
                   Tensor& v_cache, Tensor& q) {
  // The separate ops on column copies of q, k and v: the same values by construction.
  const int64_t rows = qkv.dim(0), qw = q.dim(1), kvw = k_cache.dim(1), w = qkv.dim(1);
  Tensor k = Tensor::empty({rows, kvw}, DType::F32), v = Tensor::empty({rows, kvw}, DType::F32);
  for (int64_t t = 0; t < rows; ++t) {
    const float* row = qkv.data<float>() + t * w;
    std::memcpy(q.data<float>() + t * qw, row, size_t(qw) * sizeof(float));
    std::memcpy(k.data<float>() + t * kvw, row + qw, size_t(kvw) * sizeof(float));
    std::memcpy(v.data<float>() + t * kvw, row + qw + kvw, size_t(kvw) * sizeof(float));
  }
  rope(q, positions, r.heads, r.head_dim, r.rotary_dim, *r.inv_freq, r.attention_factor);
  rope(k, positions, r.kv_heads, r.head_dim, r.rotary_dim, *r.inv_freq, r.attention_factor);
  kv_cache_write(k_cache, k, positions, seqlen);
  kv_cache_write(v_cache, v, positions, seqlen);
}

void add_i32(Tensor& x, int32_t v) {
  int32_t* p = x.data<int32_t>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] += v;
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionShape& s, Tensor& out) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Strided = Eigen::Map<const Mat, 0, Eigen::OuterStride<>>;
  using StridedOut = Eigen::Map<Mat, 0, Eigen::OuterStride<>>;
  const int d = s.head_dim;
  const int group = s.n_heads / s.n_kv_heads;
  const int64_t q_width = int64_t(s.n_heads) * d, kv_width = int64_t(s.n_kv_heads) * d;
  // Query blocks: scores for a block are a small GEMM against the keys it may see (causal, and
  // within the sliding window), so only a [block, keys] tile exists at a time and the masked
  // triangles are mostly skipped.
  constexpr int kBlock = 64;
  const bool capped = s.softcap > 0.f;
  const float scale = capped ? 1.f : s.scale;  // capped scores already carry the scale
  Mat scores;
  for (int b = 0; b < s.batch; ++b) {
    // The window's first query position and key count: from the positions when given.
    int q_offset = s.q_offset, kv_len = s.kv_len;
    if (s.positions != nullptr) {
      const int32_t* p = s.positions->data<int32_t>() + int64_t(b) * s.q_len;
      q_offset = p[0];
      kv_len = std::min(s.kv_len, p[s.q_len - 1] + 1);
    }
    const float* kb = k.data<float>() + int64_t(b) * s.kv_stride * kv_width;
    const float* vb = v.data<float>() + int64_t(b) * s.kv_stride * kv_width;
    for (int h = 0; h < s.n_heads; ++h) {
      const int64_t kv_col = int64_t(h / group) * d;  // GQA: query head h reads KV head h / group
      for (int i0 = 0; i0 < s.q_len; i0 += kBlock) {
        const int nq = std::min(kBlock, s.q_len - i0);
        const int p0 = i0 + q_offset;  // position of the block's first query
        // Keys [lo, hi): hi is the last query's causal end, lo the first query's window start.
        const int hi = std::min(kv_len, p0 + nq);
        const int lo = s.window > 0 ? std::max(0, p0 - s.window + 1) : 0;
        const int nk = hi - lo;
        const int64_t q_row = int64_t(b) * s.q_len + i0;
        Strided qm(q.data<float>() + q_row * q_width + int64_t(h) * d, nq, d, Eigen::OuterStride<>(q_width));
        Strided km(kb + int64_t(lo) * kv_width + kv_col, nk, d, Eigen::OuterStride<>(kv_width));
        Strided vm(vb + int64_t(lo) * kv_width + kv_col, nk, d, Eigen::OuterStride<>(kv_width));
        scores.resize(nq, nk);
        scores.noalias() = qm * km.transpose();
        for (int r = 0; r < nq; ++r) {
          const int p = p0 + r;
          const int end = std::min(nk, p + 1 - lo);                                 // causal
          const int begin = s.window > 0 ? std::max(0, p - s.window + 1 - lo) : 0;  // window
          float* row = scores.data() + int64_t(r) * nk;
          if (capped)
            for (int j = begin; j < end; ++j) row[j] = s.softcap * std::tanh(row[j] * s.scale / s.softcap);
          float mx = -INFINITY;
          for (int j = begin; j < end; ++j) mx = std::max(mx, row[j] * scale);
          float sum = 0.f;
          for (int j = begin; j < end; ++j) sum += (row[j] = std::exp(row[j] * scale - mx));
          const float inv = 1.f / sum;
          for (int j = begin; j < end; ++j) row[j] *= inv;
          for (int j = 0; j < begin; ++j) row[j] = 0.f;
          for (int j = end; j < nk; ++j) row[j] = 0.f;
        }
        StridedOut om(out.data<float>() + q_row * q_width + int64_t(h) * d, nq, d, Eigen::OuterStride<>(q_width));
        om.noalias() = scores * vm;
      }
    }
  }
}

}  // namespace sp::cpu
