// CPU bodies of rotate-half RoPE and causal grouped-query attention (F32).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"

namespace sp::cpu {

void rope(Tensor& x, const Tensor& positions, int heads, int head_dim, float theta) {
  const int half = head_dim / 2;
  // inv_freq exactly as transformers builds it: 1 / theta ** (arange(0, d, 2).float() / d), fp32.
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) inv_freq[size_t(i)] = 1.f / std::pow(theta, float(2 * i) / float(head_dim));
  std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
  const int64_t width = int64_t(heads) * head_dim;
  const int32_t* pos = positions.data<int32_t>();
  for (int64_t t = 0; t < x.dim(0); ++t) {
    for (int i = 0; i < half; ++i) {
      const float angle = float(pos[t]) * inv_freq[size_t(i)];
      cs[size_t(i)] = std::cos(angle);
      sn[size_t(i)] = std::sin(angle);
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

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionShape& s, Tensor& out) {
  const int d = s.head_dim;
  const int group = s.n_heads / s.n_kv_heads;
  const int64_t q_width = int64_t(s.n_heads) * d, kv_width = int64_t(s.n_kv_heads) * d;
  std::vector<float> p(static_cast<size_t>(s.kv_len));
  std::vector<float> acc(static_cast<size_t>(d));
  for (int b = 0; b < s.batch; ++b) {
    const float* kb = k.data<float>() + int64_t(b) * s.kv_stride * kv_width;
    const float* vb = v.data<float>() + int64_t(b) * s.kv_stride * kv_width;
    for (int h = 0; h < s.n_heads; ++h) {
      const int64_t kv_col = int64_t(h / group) * d;  // GQA: query head h reads KV head h / group
      for (int i = 0; i < s.q_len; ++i) {
        const int64_t q_row = int64_t(b) * s.q_len + i;
        const float* qi = q.data<float>() + q_row * q_width + int64_t(h) * d;
        const int n_keys = std::min(s.kv_len, i + s.q_offset + 1);  // causal
        float mx = -INFINITY;
        for (int j = 0; j < n_keys; ++j) {
          const float* kj = kb + int64_t(j) * kv_width + kv_col;
          float dot = 0.f;
          for (int c = 0; c < d; ++c) dot += qi[c] * kj[c];
          p[size_t(j)] = dot * s.scale;
          mx = std::max(mx, p[size_t(j)]);
        }
        float sum = 0.f;
        for (int j = 0; j < n_keys; ++j) {
          p[size_t(j)] = std::exp(p[size_t(j)] - mx);
          sum += p[size_t(j)];
        }
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int j = 0; j < n_keys; ++j) {
          const float* vj = vb + int64_t(j) * kv_width + kv_col;
          const float pj = p[size_t(j)];
          for (int c = 0; c < d; ++c) acc[size_t(c)] += pj * vj[c];
        }
        float* o = out.data<float>() + q_row * q_width + int64_t(h) * d;
        const float inv = 1.f / sum;
        for (int c = 0; c < d; ++c) o[c] = acc[size_t(c)] * inv;
      }
    }
  }
}

}  // namespace sp::cpu
