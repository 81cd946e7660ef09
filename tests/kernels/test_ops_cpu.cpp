// Every CPU body against a naive float64 implementation written here from the op's definition, on
// fresh random inputs (odd sizes, GQA, KV-cache offsets). The CPU bodies are the oracle of the
// CUDA bodies, so they are checked against math, not against themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/error.h"
#include "kernels/ops.h"

namespace sp {
namespace {

using Vec = std::vector<double>;

Tensor rand_f32(std::mt19937& g, Shape shape, float scale = 1.f) {
  std::normal_distribution<float> n(0.f, scale);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = n(g);
  return Tensor::from_f32(v, std::move(shape));
}

Tensor rand_ids(std::mt19937& g, int64_t n, int hi) {
  std::uniform_int_distribution<int> u(0, hi - 1);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(g);
  return Tensor::from_i32(v, {n});
}

// max |a - b| / (atol + rtol |b|) <= 1
void expect_close(const Tensor& got, const Vec& want, double atol, double rtol, const char* what) {
  const Vec g = got.to_f64_vector();
  ASSERT_EQ(g.size(), want.size()) << what;
  double worst = 0.0, max_abs = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double e = std::abs(g[i] - want[i]);
    max_abs = std::max(max_abs, e);
    const double r = e / (atol + rtol * std::abs(want[i]));
    if (r > worst) worst = r, at = i;
  }
  EXPECT_LE(worst, 1.0) << what << ": element " << at << " got " << g[at] << " want " << want[at] << " (max abs diff "
                        << max_abs << ")";
}

class OpsCpu : public ::testing::Test {
 protected:
  ExecContext ctx{Device::cpu()};
  std::mt19937 rng{20260611};
};

TEST_F(OpsCpu, EmbeddingGathersRows) {
  Tensor table = rand_f32(rng, {37, 13});
  Tensor ids = rand_ids(rng, 11, 37);
  Tensor out = ops::embedding(ctx, table, ids);
  ASSERT_EQ(out.shape(), (Shape{11, 13}));
  Vec t = table.to_f64_vector(), want;
  for (int64_t i = 0; i < 11; ++i)
    for (int j = 0; j < 13; ++j) want.push_back(t[size_t(ids.data<int32_t>()[i] * 13 + j)]);
  expect_close(out, want, 0, 0, "embedding");
}

TEST_F(OpsCpu, LinearMatchesFloat64WithAndWithoutBias) {
  for (bool with_bias : {false, true}) {
    const int m = 19, k = 67, n = 29;
    Tensor x = rand_f32(rng, {m, k}), w = rand_f32(rng, {n, k}), b = rand_f32(rng, {n});
    Tensor y = ops::linear(ctx, x, w, with_bias ? b : Tensor(), Precision::Exact32);
    ASSERT_EQ(y.shape(), (Shape{m, n}));
    Vec xv = x.to_f64_vector(), wv = w.to_f64_vector(), bv = b.to_f64_vector(), want;
    for (int i = 0; i < m; ++i)
      for (int o = 0; o < n; ++o) {
        double s = with_bias ? bv[size_t(o)] : 0.0;
        for (int c = 0; c < k; ++c) s += xv[size_t(i * k + c)] * wv[size_t(o * k + c)];
        want.push_back(s);
      }
    expect_close(y, want, 1e-5, 1e-5, "linear");
  }
}

TEST_F(OpsCpu, RmsNormMatchesFloat64) {
  const int m = 7, h = 45;
  Tensor x = rand_f32(rng, {m, h}, 3.f), w = rand_f32(rng, {h});
  // Offset 0 (LLaMA: w) and 1 (Gemma: 1 + w).
  for (const double offset : {0.0, 1.0}) {
    Tensor y = ops::rms_norm(ctx, x, w, 1e-5f, float(offset));
    Vec xv = x.to_f64_vector(), wv = w.to_f64_vector(), want;
    for (int r = 0; r < m; ++r) {
      double ss = 0;
      for (int i = 0; i < h; ++i) ss += xv[size_t(r * h + i)] * xv[size_t(r * h + i)];
      const double inv = 1.0 / std::sqrt(ss / h + 1e-5);
      for (int i = 0; i < h; ++i) want.push_back(xv[size_t(r * h + i)] * inv * (offset + wv[size_t(i)]));
    }
    expect_close(y, want, 1e-6, 1e-5, offset == 0 ? "rms_norm" : "rms_norm offset 1");
  }
}

TEST_F(OpsCpu, LayerNormMatchesFloat64) {
  const int m = 6, h = 53;
  Tensor x = rand_f32(rng, {m, h}, 2.f), w = rand_f32(rng, {h}), b = rand_f32(rng, {h});
  // A large common offset makes a naive E[x^2] - E[x]^2 variance lose digits.
  {
    float* p = x.data<float>();
    for (int i = 0; i < m * h; ++i) p[i] += 100.f;
  }
  Tensor y = ops::layer_norm(ctx, x, w, b, 1e-5f);
  Vec xv = x.to_f64_vector(), wv = w.to_f64_vector(), bv = b.to_f64_vector(), want;
  for (int r = 0; r < m; ++r) {
    double mean = 0, var = 0;
    for (int i = 0; i < h; ++i) mean += xv[size_t(r * h + i)];
    mean /= h;
    for (int i = 0; i < h; ++i) var += std::pow(xv[size_t(r * h + i)] - mean, 2);
    var /= h;
    for (int i = 0; i < h; ++i)
      want.push_back((xv[size_t(r * h + i)] - mean) / std::sqrt(var + 1e-5) * wv[size_t(i)] + bv[size_t(i)]);
  }
  expect_close(y, want, 1e-5, 1e-5, "layer_norm");
}

// RoPE in float64 from the definition: pair (i, i + rd/2) of each head's first rd dims rotated by
// pos * theta^(-2i/rd); dims [rd, d) unchanged (partial rotary, rd < d).
TEST_F(OpsCpu, RopeMatchesFloat64Rotation) {
  const int t = 9, heads = 3, d = 10;
  const float theta = 10000.f;
  for (const int rd : {d, 6}) {
    Tensor x = rand_f32(rng, {t, heads * d});
    std::vector<int32_t> pos = {0, 1, 2, 7, 100, 511, 1023, 4095, 3};
    Tensor p = Tensor::from_i32(pos, {t});
    Vec xv = x.to_f64_vector(), want = xv;
    for (int r = 0; r < t; ++r)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < rd / 2; ++i) {
          const double a = pos[size_t(r)] * std::pow(double(theta), -2.0 * i / rd);
          const size_t i1 = size_t(r * heads * d + h * d + i), i2 = i1 + size_t(rd / 2);
          want[i1] = xv[i1] * std::cos(a) - xv[i2] * std::sin(a);
          want[i2] = xv[i2] * std::cos(a) + xv[i1] * std::sin(a);
        }
    std::vector<float> inv_freq;
    for (int i = 0; i < rd / 2; ++i) inv_freq.push_back(float(std::pow(double(theta), -2.0 * i / rd)));
    ops::rope_(ctx, x, p, heads, d, rd, inv_freq);
    // Angles up to ~4e3 rad: fp32 angle rounding (as transformers does it) gives ~2e-4 absolute.
    expect_close(x, want, 2e-3, 0, rd == d ? "rope" : "rope_partial");
  }
}

// Causal GQA attention in float64 for one configuration: query i at position p = i + q_offset
// (or from s.positions) sees keys j <= p, and j > p - window when window > 0; scores capped as softcap * tanh(x /
// softcap).
Vec attention_f64(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionShape& s) {
  Vec qv = q.to_f64_vector(), kv = k.to_f64_vector(), vv = v.to_f64_vector();
  const int d = s.head_dim, qw = s.n_heads * d, kw = s.n_kv_heads * d;
  Vec out(qv.size());
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.n_heads; ++h) {
      const int kh = h / (s.n_heads / s.n_kv_heads);
      // With positions, window b's queries sit at positions[b * q_len + i] (its keys: up to the last).
      const int32_t* pos = s.positions ? s.positions->data<int32_t>() + b * s.q_len : nullptr;
      const int q_offset = pos ? pos[0] : s.q_offset;
      const int kv_len = pos ? std::min(s.kv_len, pos[s.q_len - 1] + 1) : s.kv_len;
      for (int i = 0; i < s.q_len; ++i) {
        const size_t qo = size_t((b * s.q_len + i) * qw + h * d);
        Vec sc;
        const int p = i + q_offset;
        const int first = s.window > 0 ? std::max(0, p - s.window + 1) : 0;
        for (int j = first; j <= p && j < kv_len; ++j) {
          const size_t ko = size_t((b * s.kv_stride + j) * kw + kh * d);
          double dot = 0;
          for (int c = 0; c < d; ++c) dot += qv[qo + size_t(c)] * kv[ko + size_t(c)];
          dot *= s.scale;
          if (s.softcap > 0) dot = s.softcap * std::tanh(dot / s.softcap);
          sc.push_back(dot);
        }
        const double mx = *std::max_element(sc.begin(), sc.end());
        double z = 0;
        for (auto& e : sc) z += (e = std::exp(e - mx));
        for (int c = 0; c < d; ++c) {
          double acc = 0;
          for (size_t j = 0; j < sc.size(); ++j)
            acc += sc[j] / z * vv[size_t((b * s.kv_stride + first + int(j)) * kw + kh * d + c)];
          out[qo + size_t(c)] = acc;
        }
      }
    }
  return out;
}

TEST_F(OpsCpu, AttentionCausalGqaWindows) {
  ops::AttentionShape s;
  s.batch = 3, s.q_len = 13, s.kv_len = 13, s.kv_stride = 13, s.q_offset = 0;
  s.n_heads = 6, s.n_kv_heads = 2, s.head_dim = 5;
  s.scale = 1.f / std::sqrt(5.f);
  Tensor q = rand_f32(rng, {3 * 13, 30}, 2.f), k = rand_f32(rng, {3 * 13, 10}, 2.f), v = rand_f32(rng, {3 * 13, 10});
  Tensor o = ops::attention(ctx, q, k, v, s);
  expect_close(o, attention_f64(q, k, v, s), 1e-5, 1e-4, "attention windows");
}

TEST_F(OpsCpu, AttentionMhaDefaultScale) {
  ops::AttentionShape s;
  s.batch = 1, s.q_len = 17, s.kv_len = 17, s.n_heads = 3, s.n_kv_heads = 3, s.head_dim = 8;
  Tensor q = rand_f32(rng, {17, 24}), k = rand_f32(rng, {17, 24}), v = rand_f32(rng, {17, 24});
  Tensor o = ops::attention(ctx, q, k, v, s);  // scale 0 -> 1/sqrt(head_dim), kv_stride 0 -> kv_len
  ops::AttentionShape r = s;
  r.kv_stride = 17, r.scale = 1.f / std::sqrt(8.f);
  expect_close(o, attention_f64(q, k, v, r), 1e-5, 1e-4, "attention mha");
}

// KV-cache case: a cache with spare capacity (kv_stride > kv_len), queries at the end (q_offset).
TEST_F(OpsCpu, AttentionKvCacheOffsetAndStride) {
  for (int q_len : {1, 4}) {
    ops::AttentionShape s;
    s.batch = 2, s.q_len = q_len, s.kv_len = 11, s.kv_stride = 16, s.q_offset = 11 - q_len;
    s.n_heads = 8, s.n_kv_heads = 2, s.head_dim = 6, s.scale = 0.37f;
    Tensor q = rand_f32(rng, {2 * q_len, 48}), k = rand_f32(rng, {2 * 16, 12}), v = rand_f32(rng, {2 * 16, 12});
    Tensor o = ops::attention(ctx, q, k, v, s);
    expect_close(o, attention_f64(q, k, v, s), 1e-5, 1e-4, "attention cache");
  }
}

// Positions on the device side give each window its own offset and length (a decode step at
// several lengths; kv_len only bounds them), here with a sliding window too.
TEST_F(OpsCpu, AttentionPositionsGiveEachWindowItsLength) {
  for (const int window : {0, 4}) {
    for (const int q_len : {1, 3}) {
      ops::AttentionShape s;
      s.batch = 3, s.q_len = q_len, s.kv_len = 16, s.kv_stride = 16;
      s.n_heads = 4, s.n_kv_heads = 2, s.head_dim = 6, s.scale = 0.4f, s.window = window;
      std::vector<int32_t> p;
      for (const int start : {9, 2, 13})
        for (int i = 0; i < q_len; ++i) p.push_back(start + i);
      const Tensor pos = Tensor::from_i32(p, {int64_t(p.size())});
      s.positions = &pos;
      Tensor q = rand_f32(rng, {3 * q_len, 24}), k = rand_f32(rng, {48, 12}), v = rand_f32(rng, {48, 12});
      // Rows past each window's last position are NaN: they must never be read.
      for (int b = 0; b < 3; ++b)
        for (int j = p[size_t(b * q_len + q_len - 1)] + 1; j < 16; ++j)
          for (int c = 0; c < 12; ++c)
            k.data<float>()[(b * 16 + j) * 12 + c] = v.data<float>()[(b * 16 + j) * 12 + c] = NAN;
      expect_close(ops::attention(ctx, q, k, v, s), attention_f64(q, k, v, s), 1e-5, 1e-4, "attention positions");
    }
  }
}

// The KV-cache append puts row t of window b at row b * capacity + positions[t] and nowhere else.
TEST_F(OpsCpu, KvCacheWriteAndPositionAdvance) {
  Tensor cache = rand_f32(rng, {2 * 5, 3});
  const Vec before = cache.to_f64_vector();
  const Tensor x = rand_f32(rng, {2 * 2, 3});
  Tensor pos = Tensor::from_i32({1, 2, 3, 4}, {4});
  ops::kv_cache_write_(ctx, cache, x, pos, 2);
  const Vec got = cache.to_f64_vector(), xv = x.to_f64_vector();
  for (int r = 0; r < 10; ++r) {
    const int b = r / 5, j = r % 5;
    const bool written = (b == 0 && (j == 1 || j == 2)) || (b == 1 && (j == 3 || j == 4));
    const int src = b * 2 + (b == 0 ? j - 1 : j - 3);
    for (int c = 0; c < 3; ++c)
      EXPECT_EQ(got[size_t(r * 3 + c)], written ? xv[size_t(src * 3 + c)] : before[size_t(r * 3 + c)]) << r << "," << c;
  }
  ops::add_i32_(ctx, pos, 3);
  EXPECT_EQ(std::vector<int32_t>(pos.data<int32_t>(), pos.data<int32_t>() + 4), (std::vector<int32_t>{4, 5, 6, 7}));
  EXPECT_THROW(ops::kv_cache_write_(ctx, cache, x, pos, 3), InputError);  // 4 rows are not windows of 3
}

// The fused inference steps against their definitions: add then RMSNorm in float64, the stacked
// gate / up halves, and RoPE + cache append against the separate ops (bit for bit).
TEST_F(OpsCpu, AddRmsNormMatchesFloat64) {
  Tensor x = rand_f32(rng, {5, 37}, 2.f), y = rand_f32(rng, {5, 37}), w = rand_f32(rng, {37});
  const Vec xv = x.to_f64_vector(), yv = y.to_f64_vector(), wv = w.to_f64_vector();
  const Tensor h = ops::add_rms_norm_(ctx, x, y, w, 1e-5f);
  Vec sum, want;
  for (int r = 0; r < 5; ++r) {
    double ss = 0;
    for (int j = 0; j < 37; ++j) {
      sum.push_back(xv[size_t(r * 37 + j)] + yv[size_t(r * 37 + j)]);
      ss += sum.back() * sum.back();
    }
    for (int j = 0; j < 37; ++j) want.push_back(sum[size_t(r * 37 + j)] / std::sqrt(ss / 37 + 1e-5) * wv[size_t(j)]);
  }
  expect_close(x, sum, 1e-6, 1e-6, "add_rms_norm residual");
  expect_close(h, want, 1e-5, 1e-5, "add_rms_norm");
  EXPECT_THROW(ops::add_rms_norm_(ctx, x, rand_f32(rng, {5, 36}), w, 1e-5f), InputError);
}

TEST_F(OpsCpu, GatedActOfStackedHalves) {
  const Tensor gu = rand_f32(rng, {3, 2 * 11}, 3.f);
  Tensor g = Tensor::empty({3, 11}, DType::F32), u = Tensor::empty({3, 11}, DType::F32);
  for (int r = 0; r < 3; ++r)
    for (int j = 0; j < 11; ++j) {
      g.data<float>()[r * 11 + j] = gu.data<float>()[r * 22 + j];
      u.data<float>()[r * 11 + j] = gu.data<float>()[r * 22 + 11 + j];
    }
  for (const ops::GateAct act : {ops::GateAct::kSilu, ops::GateAct::kGeluTanh})
    EXPECT_EQ(ops::gated_act(ctx, gu, act).to_f64_vector(), ops::gated_act(ctx, g, u, act).to_f64_vector());
  EXPECT_THROW(ops::gated_act(ctx, rand_f32(rng, {3, 7}), ops::GateAct::kSilu), InputError);  // odd width
}

TEST_F(OpsCpu, RopeKvWriteIsRopeThenCacheWrite) {
  const int heads = 4, kv_heads = 2, hd = 8, seqlen = 3, windows = 2, capacity = 5;
  const Tensor qkv = rand_f32(rng, {seqlen * windows, (heads + 2 * kv_heads) * hd});
  const Tensor pos = Tensor::from_i32({0, 1, 2, 3, 4, 5}, {6});  // the second window's 5 is outside: skipped
  const std::vector<float> inv_freq = {1.f, 0.1f, 0.01f};        // rotary_dim 6 of 8
  const ops::RopeArgs r{heads, kv_heads, hd, 6, &inv_freq, 1.f};
  Tensor kc = rand_f32(rng, {windows * capacity, kv_heads * hd}), vc = rand_f32(rng, kc.shape());
  Tensor kc2 = kc.clone(), vc2 = vc.clone();
  const Tensor q = ops::rope_kv_write(ctx, qkv, pos, seqlen, r, kc, vc);
  Tensor q2 = Tensor::empty({6, heads * hd}, DType::F32), k2 = Tensor::empty({6, kv_heads * hd}, DType::F32),
         v2 = Tensor::empty({6, kv_heads * hd}, DType::F32);
  for (int t = 0; t < 6; ++t) {
    const float* row = qkv.data<float>() + t * qkv.dim(1);
    std::memcpy(q2.data<float>() + t * heads * hd, row, sizeof(float) * heads * hd);
    std::memcpy(k2.data<float>() + t * kv_heads * hd, row + heads * hd, sizeof(float) * kv_heads * hd);
    std::memcpy(v2.data<float>() + t * kv_heads * hd, row + (heads + kv_heads) * hd, sizeof(float) * kv_heads * hd);
  }
  const Vec unrotated = q2.to_f64_vector();
  ops::rope_(ctx, q2, pos, heads, hd, 6, inv_freq);
  ops::rope_(ctx, k2, pos, kv_heads, hd, 6, inv_freq);
  ops::kv_cache_write_(ctx, kc2, k2, pos, seqlen);
  ops::kv_cache_write_(ctx, vc2, v2, pos, seqlen);
  EXPECT_EQ(q.to_f64_vector(), q2.to_f64_vector());
  EXPECT_EQ(kc.to_f64_vector(), kc2.to_f64_vector());
  EXPECT_EQ(vc.to_f64_vector(), vc2.to_f64_vector());
  EXPECT_NE(q.to_f64_vector(), unrotated);                   // the rotation happened (positions > 0)
  const ops::RopeArgs bad{heads, 3, hd, 6, &inv_freq, 1.f};  // 4 heads in 3 KV groups
  EXPECT_THROW(ops::rope_kv_write(ctx, qkv, pos, seqlen, bad, kc, vc), InputError);
}

// Windows longer than the CPU body's query block (64), and a multi-block chunk into a cache.
TEST_F(OpsCpu, AttentionLongWindowsSpanQueryBlocks) {
  ops::AttentionShape s;
  s.batch = 2, s.q_len = 150, s.kv_len = 150, s.kv_stride = 150, s.q_offset = 0;
  s.n_heads = 4, s.n_kv_heads = 2, s.head_dim = 16, s.scale = 0.25f;
  Tensor q = rand_f32(rng, {300, 64}), k = rand_f32(rng, {300, 32}), v = rand_f32(rng, {300, 32});
  expect_close(ops::attention(ctx, q, k, v, s), attention_f64(q, k, v, s), 1e-5, 1e-4, "attention long");
  s.batch = 1, s.q_len = 70, s.kv_len = 100, s.kv_stride = 128, s.q_offset = 30;
  Tensor q2 = rand_f32(rng, {70, 64}), k2 = rand_f32(rng, {128, 32}), v2 = rand_f32(rng, {128, 32});
  expect_close(ops::attention(ctx, q2, k2, v2, s), attention_f64(q2, k2, v2, s), 1e-5, 1e-4, "attention chunk");
}

// Sliding window (transformers: key j visible from position p iff p - window < j <= p) and score
// soft-capping, alone and together, on plain windows, across query blocks and into a KV cache.
TEST_F(OpsCpu, AttentionSlidingWindowAndSoftcap) {
  struct Case {
    int batch, q_len, kv_len, kv_stride, q_offset, window;
    float softcap;
  };
  const Case cases[] = {
      {2, 13, 13, 13, 0, 4, 0.f},                                   // window shorter than the sequence
      {1, 9, 9, 9, 0, 1, 0.f},                                      // window 1: each query sees only itself
      {2, 13, 13, 13, 0, 13, 0.f},                                  // window = length: full causal
      {1, 150, 150, 150, 0, 37, 0.f},                               // several query blocks, window start inside a block
      {1, 150, 150, 150, 0, 100, 0.f}, {2, 1, 40, 48, 39, 8, 0.f},  // decode step into a cache longer than the window
      {2, 5, 40, 48, 35, 8, 0.f},                                   // chunk into a cache
      {1, 70, 130, 130, 60, 64, 0.f},                               // multi-block chunk, window = the block
      {2, 13, 13, 13, 0, 0, 2.5f},  // soft-capping alone (scores of magnitude ~10 get capped)
      {2, 5, 40, 48, 35, 8, 3.f},   // both, into a cache
      {1, 150, 150, 150, 0, 37, 1.f},
  };
  for (const Case& c : cases) {
    ops::AttentionShape s;
    s.batch = c.batch, s.q_len = c.q_len, s.kv_len = c.kv_len, s.kv_stride = c.kv_stride, s.q_offset = c.q_offset;
    s.n_heads = 4, s.n_kv_heads = 2, s.head_dim = 8, s.scale = 0.6f, s.window = c.window, s.softcap = c.softcap;
    Tensor q = rand_f32(rng, {int64_t(c.batch) * c.q_len, 32}, 2.f);
    Tensor k = rand_f32(rng, {int64_t(c.batch) * c.kv_stride, 16}, 2.f);
    Tensor v = rand_f32(rng, {int64_t(c.batch) * c.kv_stride, 16});
    const Vec want = attention_f64(q, k, v, s);
    const std::string what = "attention q" + std::to_string(c.q_len) + " offset " + std::to_string(c.q_offset) +
                             " window " + std::to_string(c.window) + " softcap " + std::to_string(c.softcap);
    expect_close(ops::attention(ctx, q, k, v, s), want, 1e-5, 1e-4, what.c_str());
    if (c.window > 0 && c.window < c.q_offset + c.q_len) {  // the window must change the result
      ops::AttentionShape full = s;
      full.window = 0;
      const Vec causal = attention_f64(q, k, v, full);
      double diff = 0;
      for (size_t i = 0; i < want.size(); ++i) diff = std::max(diff, std::abs(want[i] - causal[i]));
      EXPECT_GT(diff, 1e-2) << "window " << c.window;
    }
  }
}

TEST_F(OpsCpu, GatedActReluScaleSoftcapAdd) {
  Tensor g = rand_f32(rng, {5, 23}, 4.f), u = rand_f32(rng, {5, 23});
  Tensor o = ops::gated_act(ctx, g, u, ops::GateAct::kSilu);
  Vec gv = g.to_f64_vector(), uv = u.to_f64_vector(), want;
  for (size_t i = 0; i < gv.size(); ++i) want.push_back(gv[i] / (1 + std::exp(-gv[i])) * uv[i]);
  expect_close(o, want, 1e-6, 1e-6, "silu_mul");
  // GeGLU with the tanh GELU, from its definition in float64.
  o = ops::gated_act(ctx, g, u, ops::GateAct::kGeluTanh);
  want.clear();
  for (size_t i = 0; i < gv.size(); ++i) {
    const double x = gv[i];
    want.push_back(0.5 * x * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x))) * uv[i]);
  }
  expect_close(o, want, 1e-6, 1e-6, "gelu_tanh_mul");

  Tensor sc = g.clone();
  ops::scale_(ctx, sc, 8.f);
  want.clear();
  for (double x : gv) want.push_back(8 * x);
  expect_close(sc, want, 0, 0, "scale");
  Tensor cap = g.clone();
  ops::softcap_(ctx, cap, 3.f);
  want.clear();
  for (double x : gv) want.push_back(3 * std::tanh(x / 3));
  expect_close(cap, want, 1e-6, 1e-6, "softcap");
  EXPECT_THROW(ops::softcap_(ctx, cap, 0.f), InputError);

  Tensor r = g.clone();
  ops::relu_(ctx, r);
  want.clear();
  for (double x : gv) want.push_back(std::max(x, 0.0));
  expect_close(r, want, 0, 0, "relu");

  Tensor a = g.clone();
  ops::add_(ctx, a, u);
  want.clear();
  for (size_t i = 0; i < gv.size(); ++i) want.push_back(gv[i] + uv[i]);
  expect_close(a, want, 1e-6, 1e-7, "add");
}

TEST_F(OpsCpu, TokenNllMatchesFloat64LogSoftmax) {
  const int m = 9, v = 1003;
  Tensor z = rand_f32(rng, {m, v}, 5.f);
  z.data<float>()[5] = 80.f;  // a large logit: needs the max subtraction
  Tensor t = rand_ids(rng, m, v);
  Tensor nll = ops::token_nll(ctx, z, t);
  Vec zv = z.to_f64_vector(), want;
  for (int r = 0; r < m; ++r) {
    double mx = -1e300, s = 0;
    for (int j = 0; j < v; ++j) mx = std::max(mx, zv[size_t(r * v + j)]);
    for (int j = 0; j < v; ++j) s += std::exp(zv[size_t(r * v + j)] - mx);
    want.push_back(std::log(s) + mx - zv[size_t(r * v + t.data<int32_t>()[r])]);
  }
  expect_close(nll, want, 1e-5, 1e-6, "token_nll");
}

TEST_F(OpsCpu, KlDivergenceMatchesFloat64Softmaxes) {
  const int m = 7, v = 1001;
  Tensor a = rand_f32(rng, {m, v}, 4.f), b = rand_f32(rng, {m, v}, 4.f);
  a.data<float>()[3] = 70.f;  // large logits: need the max subtraction
  b.data<float>()[v + 2] = 60.f;
  std::memcpy(b.data<float>() + 4 * v, a.data<float>() + 4 * v, size_t(v) * 4);  // equal rows: KL 0
  Tensor kl = ops::kl_div_rows(ctx, a, b);
  Vec av = a.to_f64_vector(), bv = b.to_f64_vector(), want;
  for (int r = 0; r < m; ++r) {
    auto softmax = [&](const Vec& z) {
      double mx = -1e300, s = 0;
      for (int j = 0; j < v; ++j) mx = std::max(mx, z[size_t(r * v + j)]);
      Vec p(static_cast<size_t>(v));
      for (int j = 0; j < v; ++j) s += (p[size_t(j)] = std::exp(z[size_t(r * v + j)] - mx));
      for (double& x : p) x /= s;
      return p;
    };
    const Vec p = softmax(av), q = softmax(bv);
    double k = 0;
    for (int j = 0; j < v; ++j)
      if (p[size_t(j)] > 0) k += p[size_t(j)] * std::log(p[size_t(j)] / q[size_t(j)]);
    want.push_back(k);
  }
  expect_close(kl, want, 1e-4, 1e-5, "kl_div_rows");
  EXPECT_NEAR(kl.data<float>()[4], 0.0, 1e-6);
}

TEST_F(OpsCpu, ArgmaxLowestIndexOnTies) {
  Tensor z = rand_f32(rng, {4, 31});
  float* p = z.data<float>();
  p[1 * 31 + 7] = 50.f, p[1 * 31 + 20] = 50.f;  // tie: index 7 wins
  p[2 * 31 + 30] = 50.f;
  Tensor a = ops::argmax_rows(ctx, z);
  Vec zv = z.to_f64_vector();
  for (int r = 0; r < 4; ++r) {
    int best = 0;
    for (int j = 1; j < 31; ++j)
      if (zv[size_t(r * 31 + j)] > zv[size_t(r * 31 + best)]) best = j;
    EXPECT_EQ(a.data<int32_t>()[r], best) << "row " << r;
  }
  EXPECT_EQ(a.data<int32_t>()[1], 7);
  EXPECT_EQ(a.data<int32_t>()[2], 30);
}

TEST_F(OpsCpu, ConvertRoundsToNearestEven) {
  // 1 + 2^-8 is halfway between two bf16 values: ties to even (1.0); 1 + 3*2^-8 rounds up.
  Tensor x = Tensor::from_f32({1.f + 1.f / 256, 1.f + 3.f / 256, -2.5f, 65504.f, 1e-3f}, {5});
  Tensor b = ops::convert(ctx, x, DType::BF16);
  Vec bv = b.to_f64_vector();
  EXPECT_EQ(bv[0], 1.0);
  EXPECT_EQ(bv[1], 1.0 + 4.0 / 256);
  EXPECT_EQ(bv[2], -2.5);
  Tensor h = ops::convert(ctx, x, DType::F16);
  Vec hv = h.to_f64_vector();
  EXPECT_EQ(hv[3], 65504.0);
  EXPECT_NEAR(hv[4], 1e-3, 1e-3 * std::ldexp(1.0, -11));
  Tensor back = ops::convert(ctx, b, DType::F32);
  EXPECT_EQ(back.dtype(), DType::F32);
  EXPECT_EQ(back.to_f64_vector(), bv);
}

TEST_F(OpsCpu, FrontEndsRejectBadOperandsByName) {
  Tensor x = rand_f32(rng, {4, 8}), w = rand_f32(rng, {3, 7});
  try {
    ops::linear(ctx, x, w, Tensor(), Precision::Exact32);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("in_features"), std::string::npos) << e.what();
  }
  Tensor xb = ops::convert(ctx, x, DType::BF16);
  try {
    ops::rms_norm(ctx, xb, ops::convert(ctx, rand_f32(rng, {8}), DType::BF16), 1e-5f);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ops::linear(ctx, x, rand_f32(rng, {3, 8}), Tensor(), Precision::BF16), InputError);
  EXPECT_THROW(ops::embedding(ctx, x, Tensor::from_i32({0, 4}, {2})), InputError);  // id 4 >= vocab 4
  EXPECT_THROW(ops::token_nll(ctx, x, Tensor::from_i32({0, 1, 2, 8}, {4})), InputError);
  ops::AttentionShape s;
  s.batch = 1, s.q_len = 4, s.kv_len = 4, s.n_heads = 3, s.n_kv_heads = 2, s.head_dim = 2;
  EXPECT_THROW(ops::attention(ctx, rand_f32(rng, {4, 6}), rand_f32(rng, {4, 4}), rand_f32(rng, {4, 4}), s),
               InputError);  // 3 heads over 2 KV heads
  s.n_kv_heads = 3;
  s.window = -1;
  EXPECT_THROW(ops::attention(ctx, rand_f32(rng, {4, 6}), rand_f32(rng, {4, 6}), rand_f32(rng, {4, 6}), s), InputError);
  s.window = 0, s.softcap = -1.f;
  EXPECT_THROW(ops::attention(ctx, rand_f32(rng, {4, 6}), rand_f32(rng, {4, 6}), rand_f32(rng, {4, 6}), s), InputError);
}

}  // namespace
}  // namespace sp
