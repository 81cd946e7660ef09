// Every CUDA body against the CPU body (the oracle, itself tested against float64 math in
// test_ops_cpu), one parameterised test per op over the dtypes F32 / BF16 / F16.
//
// Inputs are fresh random values rounded to the dtype first; the CPU body gets fp32 copies of the
// same rounded values, so the only differences are the GPU's arithmetic and its output rounding.
// Outputs are poisoned with NaN (all-ones bytes) before each launch, so an unwritten element fails.
// Skips without a GPU (and so in a CPU-only build, where the CUDA bodies are stubs).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/dtype.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/gpu_test_util.h"
#include "kernels/ops.h"
#include "test_util.h"

namespace sp {
namespace {

using test::ids_on_device;
using test::poisoned;

// A random operand: fp32 host copy (values exactly representable in dt) + the device tensor in dt.
struct Operand {
  Tensor host;  // F32, cpu
  Tensor dev;   // dt, cuda:0
};

uint16_t to_half_bits(float f, DType dt) { return dt == DType::BF16 ? f32_to_bf16(f) : f32_to_f16(f); }
float from_half_bits(uint16_t h, DType dt) { return dt == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h); }

Operand upload(std::vector<float> v, const Shape& shape, DType dt) {
  Operand o;
  if (dt == DType::F32) {
    o.host = Tensor::from_f32(v, shape);
    o.dev = o.host.to(Device::cuda(0));
    return o;
  }
  Tensor bits = Tensor::empty(shape, dt);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = to_half_bits(v[i], dt);
    bits.data<uint16_t>()[i] = h;
    v[i] = from_half_bits(h, dt);
  }
  o.host = Tensor::from_f32(v, shape);
  o.dev = bits.to(Device::cuda(0));
  return o;
}

Operand random_operand(std::mt19937& g, const Shape& shape, DType dt, float scale = 1.f, float mean = 0.f) {
  std::normal_distribution<float> n(mean, scale);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = n(g);
  return upload(std::move(v), shape, dt);
}

struct Tol {
  double rel_l2;
};
Tol tol_for(DType dt) {
  switch (dt) {
    case DType::F32:
      return {1e-5};
    case DType::BF16:
      return {1e-2};
    default:
      return {2e-3};
  }
}

// Relative L2 distance of the GPU result from the CPU result within the dtype's tolerance; every
// element must be finite (where the oracle is) so poisoned, unwritten outputs fail.
void expect_close(const Tensor& gpu, const Tensor& cpu, DType dt, const std::string& what) {
  const double rel = test::checked_relative_l2(gpu, cpu, what + "_" + dtype_name(dt));
  EXPECT_LE(rel, tol_for(dt).rel_l2) << what << " (" << dtype_name(dt) << "): relative L2 error " << rel;
  test::expect_elementwise_close(gpu, cpu, test::kElementwiseFactor * tol_for(dt).rel_l2,
                                 what + " (" + dtype_name(dt) + ")");
}

Tensor empty_f32(const Shape& s) { return Tensor::empty(s, DType::F32); }

Precision precision_for(DType dt) {
  return dt == DType::F32 ? Precision::Exact32 : dt == DType::BF16 ? Precision::BF16 : Precision::F16;
}

class OpsGpu : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (::sp::test::gpu_count() == 0) GTEST_SKIP() << "no CUDA GPU visible (or CPU-only build)";
    ctx_ = std::make_unique<ExecContext>(Device::cuda(0));
    seed_ = test::test_seed();
    rng_.seed(seed_);
    ::testing::Test::RecordProperty("seed", std::to_string(seed_));
  }
  void TearDown() override {
    if (HasFailure()) std::printf("  (inputs from seed %u: rerun with STRUPRUNE_TEST_SEED=%u)\n", seed_, seed_);
  }
  ExecContext& ctx() { return *ctx_; }
  DType dt() const { return GetParam(); }
  std::unique_ptr<ExecContext> ctx_;
  uint32_t seed_ = 0;
  std::mt19937 rng_;
};

// Synthetic weights generated on the GPU are those of the CPU (the same counter-based hash; the
// devices' double log / sin / cos may differ in the last bit, which the float rounding almost
// always absorbs: at most one float ulp, on a tiny fraction of the elements).
TEST(SyntheticNormalGpu, MatchesTheCpu) {
  SP_REQUIRE_GPU();
  ExecContext cpu(Device::cpu()), gpu(Device::cuda(0));
  const int64_t n = (int64_t(1) << 22) + 3;  // more than one CPU chunk, odd length
  Tensor c = Tensor::empty({n}, DType::F32), g = Tensor::empty({n}, DType::F32, gpu.device());
  ops::synthetic_normal_(cpu, c, 0x1234abcdull, 0.02f);
  ops::synthetic_normal_(gpu, g, 0x1234abcdull, 0.02f);
  const Tensor gh = g.to(Device::cpu());
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float a = c.data<float>()[i], b = gh.data<float>()[i];
    if (a == b) continue;
    ++differ;
    ASSERT_LE(std::fabs(a - b), std::fabs(std::nextafter(a, 2.f * a) - a)) << i;
  }
  EXPECT_LT(differ, n / 10000) << differ << " of " << n << " elements differ by one ulp";
}

TEST_P(OpsGpu, Embedding) {
  const int64_t vocab = 101, hidden = 72, tokens = 33;
  Operand table = random_operand(rng_, {vocab, hidden}, dt());
  std::uniform_int_distribution<int32_t> u(0, int32_t(vocab - 1));
  std::vector<int32_t> ids(static_cast<size_t>(tokens));
  for (auto& i : ids) i = u(rng_);
  Tensor out = poisoned({tokens, hidden}, dt());
  cuda::embedding(ctx(), table.dev, ids_on_device(ids), out);
  Tensor ref = empty_f32({tokens, hidden});
  cpu::embedding(table.host, Tensor::from_i32(ids, {tokens}), ref);
  const auto g = out.to_f64_vector(), c = ref.to_f64_vector();
  EXPECT_EQ(g, c) << "a gather must be exact";
}

TEST_P(OpsGpu, Linear) {
  struct Case {
    int64_t m, k, n;
    bool bias;
  };
  for (const Case cs :
       {Case{37, 96, 50, true}, Case{1, 64, 33, false}, Case{256, 512, 384, false}, Case{130, 200, 70, true}}) {
    Operand x = random_operand(rng_, {cs.m, cs.k}, dt());
    Operand w = random_operand(rng_, {cs.n, cs.k}, dt(), 0.1f);
    Operand b = random_operand(rng_, {cs.n}, dt());
    Tensor y = poisoned({cs.m, cs.n}, dt());
    cuda::linear(ctx(), x.dev, w.dev, cs.bias ? b.dev : Tensor(), precision_for(dt()), y);
    Tensor ref = empty_f32({cs.m, cs.n});
    cpu::linear(x.host, w.host, cs.bias ? b.host : Tensor(), ref);
    expect_close(y, ref, dt(),
                 "linear_" + std::to_string(cs.m) + "x" + std::to_string(cs.k) + "x" + std::to_string(cs.n));
  }
}

TEST_P(OpsGpu, RmsNorm) {
  for (const float offset : {0.f, 1.f})  // LLaMA's w and Gemma's (1 + w)
    for (const int64_t h : {int64_t(96), int64_t(100), int64_t(4096)}) {
      Operand x = random_operand(rng_, {17, h}, dt(), 2.f, 0.5f);
      Operand w = random_operand(rng_, {h}, dt(), 0.3f, 1.f - offset);
      Tensor y = poisoned({17, h}, dt());
      cuda::rms_norm(ctx(), x.dev, w.dev, 1e-5f, offset, y);
      Tensor ref = empty_f32({17, h});
      cpu::rms_norm(x.host, w.host, 1e-5f, offset, ref);
      expect_close(y, ref, dt(), "rms_norm_h" + std::to_string(h) + "_offset" + std::to_string(int(offset)));
    }
}

TEST_P(OpsGpu, LayerNorm) {
  for (const int64_t h : {int64_t(96), int64_t(100), int64_t(2048)}) {
    Operand x = random_operand(rng_, {19, h}, dt(), 2.f, 3.f);  // a mean far from 0 tests the two-pass variance
    Operand w = random_operand(rng_, {h}, dt(), 0.3f, 1.f);
    Operand b = random_operand(rng_, {h}, dt(), 0.2f);
    Tensor y = poisoned({19, h}, dt());
    cuda::layer_norm(ctx(), x.dev, w.dev, b.dev, 1e-5f, y);
    Tensor ref = empty_f32({19, h});
    cpu::layer_norm(x.host, w.host, b.host, 1e-5f, ref);
    expect_close(y, ref, dt(), "layer_norm_h" + std::to_string(h));
  }
}

TEST_P(OpsGpu, Rope) {
  struct Case {
    int heads, head_dim, rotary_dim;
    float theta;
  };
  // The last two rotate part of each head (Phi-3's partial_rotary_factor).
  for (const Case cs : {Case{6, 8, 8, 10000.f}, Case{4, 64, 64, 10000.f}, Case{3, 128, 128, 500000.f},
                        Case{4, 96, 32, 10000.f}, Case{5, 16, 6, 10000.f}}) {
    const int64_t tokens = 29;
    Operand x = random_operand(rng_, {tokens, int64_t(cs.heads) * cs.head_dim}, dt());
    std::uniform_int_distribution<int32_t> u(0, 4095);
    std::vector<int32_t> pos(static_cast<size_t>(tokens));
    for (auto& p : pos) p = u(rng_);
    Tensor xd = x.dev;  // rotated in place
    std::vector<float> inv_freq;
    for (int i = 0; i < cs.rotary_dim / 2; ++i)
      inv_freq.push_back(float(std::pow(double(cs.theta), -2.0 * i / cs.rotary_dim)) * (i % 3 == 0 ? 0.25f : 1.f));
    const float attention_factor = cs.head_dim == 64 ? 1.2f : 1.f;  // yarn scales cos and sin
    cuda::rope(ctx(), xd, ids_on_device(pos), cs.heads, cs.head_dim, cs.rotary_dim, inv_freq, attention_factor);
    Tensor ref = x.host.clone();
    cpu::rope(ref, Tensor::from_i32(pos, {tokens}), cs.heads, cs.head_dim, cs.rotary_dim, inv_freq, attention_factor);
    expect_close(xd, ref, dt(), "rope_d" + std::to_string(cs.head_dim) + "_r" + std::to_string(cs.rotary_dim));
  }
}

TEST_P(OpsGpu, Attention) {
  struct Case {
    int batch, q_len, kv_len, kv_stride, q_offset, heads, kv_heads, head_dim;
    int window = 0;
    float softcap = 0.f;
  };
  const Case cases[] = {
      {2, 37, 37, 37, 0, 4, 2, 8},       // stories260K-like head_dim, odd length
      {2, 130, 130, 130, 0, 4, 1, 32},   // several tiles, GQA 4:1
      {1, 300, 300, 300, 0, 2, 2, 64},   // MHA, partial last tiles
      {2, 96, 96, 96, 0, 4, 2, 128},     // LLaMA-2 head_dim
      {2, 5, 70, 80, 65, 4, 2, 64},      // KV cache: q_offset, spare capacity in kv_stride
      {3, 1, 129, 200, 128, 8, 2, 128},  // decode step: q_len = 1
      {1, 1, 1, 4, 0, 2, 1, 8},          // first decode step of a tiny cache
      {1, 70, 70, 70, 0, 2, 1, 16},      // head_dim 16 (the tensor-core kernel's smallest)
      {1, 40, 40, 40, 0, 4, 2, 256},     // Gemma's head_dim (CUDA cores)
      {2, 70, 70, 70, 0, 4, 2, 24},      // a head_dim with no kernel of its own (in the 32-wide one)
      {1, 5, 90, 96, 85, 6, 2, 80},      // and another, in a KV cache (the 128-wide one)
      // Sliding window: starts inside tiles, skips whole tiles, into a cache; soft-capping.
      {2, 200, 200, 200, 0, 4, 2, 64, 37},
      {1, 300, 300, 300, 0, 2, 1, 128, 130},
      {2, 37, 37, 37, 0, 4, 2, 8, 5},
      {2, 5, 170, 180, 165, 4, 2, 64, 40},
      {3, 1, 129, 200, 128, 8, 2, 128, 64},
      {2, 130, 130, 130, 0, 4, 1, 32, 0, 3.f},
      {2, 96, 96, 96, 0, 4, 2, 128, 50, 2.f},
      {1, 40, 40, 40, 0, 4, 2, 256, 16, 5.f},
      {2, 37, 37, 37, 0, 4, 2, 8, 0, 1.5f},
  };
  for (const Case& c : cases) {
    ops::AttentionShape s;
    s.batch = c.batch;
    s.q_len = c.q_len;
    s.kv_len = c.kv_len;
    s.kv_stride = c.kv_stride;
    s.q_offset = c.q_offset;
    s.n_heads = c.heads;
    s.n_kv_heads = c.kv_heads;
    s.head_dim = c.head_dim;
    s.scale = 1.f / std::sqrt(float(c.head_dim));
    s.window = c.window;
    s.softcap = c.softcap;
    Operand q = random_operand(rng_, {int64_t(c.batch) * c.q_len, int64_t(c.heads) * c.head_dim}, dt());
    // Keys / values with NaN in the spare rows of every window: they must never be read.
    const Shape kv_shape{int64_t(c.batch) * c.kv_stride, int64_t(c.kv_heads) * c.head_dim};
    auto kv = [&](float scale) {
      std::normal_distribution<float> n(0.f, scale);
      std::vector<float> v(static_cast<size_t>(shape_numel(kv_shape)));
      const int64_t row = kv_shape[1];
      for (int64_t r = 0; r < kv_shape[0]; ++r)
        for (int64_t j = 0; j < row; ++j) v[size_t(r * row + j)] = (r % c.kv_stride) < c.kv_len ? n(rng_) : NAN;
      return upload(std::move(v), kv_shape, dt());
    };
    Operand k = kv(2.f), v = kv(1.f);
    Tensor out = poisoned({int64_t(c.batch) * c.q_len, int64_t(c.heads) * c.head_dim}, dt());
    cuda::attention(ctx(), q.dev, k.dev, v.dev, s, out);
    Tensor ref = empty_f32(out.shape());
    cpu::attention(q.host, k.host, v.host, s, ref);
    expect_close(out, ref, dt(),
                 "attention_b" + std::to_string(c.batch) + "_q" + std::to_string(c.q_len) + "_kv" +
                     std::to_string(c.kv_len) + "_d" + std::to_string(c.head_dim) + "_w" + std::to_string(c.window) +
                     "_cap" + std::to_string(c.softcap));
  }
}

// Decode steps at several lengths at once: each window's offset and length from positions on the
// device (what a replayed CUDA graph relies on), kv_len the capacity; rows past a window's last
// position are NaN and must not be read. Tensor-core (head_dim 64, 128) and CUDA-core (8) kernels.
TEST_P(OpsGpu, AttentionPositions) {
  for (const int d : {8, 64, 128})
    for (const int q_len : {1, 5})
      for (const int window : {0, 40}) {
        ops::AttentionShape s;
        s.batch = 3, s.q_len = q_len, s.kv_len = 200, s.kv_stride = 200;
        s.n_heads = 8, s.n_kv_heads = 2, s.head_dim = d, s.scale = 1.f / std::sqrt(float(d)), s.window = window;
        std::vector<int32_t> p;
        for (const int start : {128, 40, 195 - q_len})
          for (int i = 0; i < q_len; ++i) p.push_back(start + i);
        const Tensor pos_host = Tensor::from_i32(p, {int64_t(p.size())}), pos = pos_host.to(Device::cuda(0));
        Operand q = random_operand(rng_, {3 * int64_t(q_len), 8 * int64_t(d)}, dt());
        const Shape kv_shape{600, 2 * int64_t(d)};
        auto kv = [&](float scale) {
          std::normal_distribution<float> n(0.f, scale);
          std::vector<float> v(static_cast<size_t>(shape_numel(kv_shape)));
          for (int64_t r = 0; r < 600; ++r)
            for (int64_t j = 0; j < kv_shape[1]; ++j)
              v[size_t(r * kv_shape[1] + j)] = r % 200 <= p[size_t(r / 200 * q_len + q_len - 1)] ? n(rng_) : NAN;
          return upload(std::move(v), kv_shape, dt());
        };
        Operand k = kv(2.f), v = kv(1.f);
        Tensor out = poisoned(q.dev.shape(), dt());
        s.positions = &pos;
        cuda::attention(ctx(), q.dev, k.dev, v.dev, s, out);
        Tensor ref = empty_f32(out.shape());
        s.positions = &pos_host;
        cpu::attention(q.host, k.host, v.host, s, ref);
        expect_close(
            out, ref, dt(),
            "attention_positions_d" + std::to_string(d) + "_q" + std::to_string(q_len) + "_w" + std::to_string(window));
      }
}

// The KV-cache append copies rows bit for bit to where the positions say, as the CPU body does;
// rows of an odd byte count take the bytewise kernel.
TEST_P(OpsGpu, KvCacheWrite) {
  for (const int64_t width : {int64_t(256), int64_t(3)}) {
    if (width % 2 == 1 && dt() == DType::F32) continue;  // fp32 rows are always whole words
    Operand cache = random_operand(rng_, {4 * 9, width}, dt()), x = random_operand(rng_, {4 * 2, width}, dt());
    const std::vector<int32_t> p = {0, 1, 7, 8, 3, 4, 9, 10};  // the last window's 10 is outside: skipped
    const Tensor pos_host = Tensor::from_i32(p, {8}), pos = pos_host.to(Device::cuda(0));
    cuda::kv_cache_write(ctx(), cache.dev, x.dev, pos, 2);
    cpu::kv_cache_write(cache.host, x.host, pos_host, 2);
    const std::vector<double> got = cache.dev.to(Device::cpu()).to_f64_vector(), want = cache.host.to_f64_vector();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "width " << width << " element " << i;
  }
}

// Bitwise equality of two device tensors (fused op against its separate ops).
void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.nbytes(), b.nbytes()) << what;
  const Tensor ha = a.to(Device::cpu()), hb = b.to(Device::cpu());
  const auto* pa = static_cast<const unsigned char*>(ha.raw());
  const auto* pb = static_cast<const unsigned char*>(hb.raw());
  for (size_t i = 0; i < a.nbytes(); ++i) ASSERT_EQ(pa[i], pb[i]) << what << ": byte " << i;
}

// Operands of the given rows x widths side by side ([rows, sum of widths]), each also on its own:
// the same rounded values in both.
std::vector<Operand> side_by_side(std::mt19937& g, int64_t rows, const std::vector<int64_t>& widths, DType dt,
                                  float scale = 1.f) {
  int64_t total = 0;
  for (int64_t w : widths) total += w;
  std::normal_distribution<float> n(0.f, scale);
  std::vector<float> all(size_t(rows * total));
  for (auto& x : all) x = n(g);
  std::vector<Operand> out = {upload(all, {rows, total}, dt)};
  int64_t col = 0;
  for (int64_t w : widths) {
    std::vector<float> part;
    for (int64_t r = 0; r < rows; ++r)
      part.insert(part.end(), all.begin() + r * total + col, all.begin() + r * total + col + w);
    out.push_back(upload(std::move(part), {rows, w}, dt));
    col += w;
  }
  return out;
}

// The fused residual add + RMSNorm gives add then rms_norm's bits (sum and output), both row paths.
TEST_P(OpsGpu, AddRmsNormIsAddThenRmsNorm) {
  for (const int64_t h : {int64_t(100), int64_t(4096)}) {
    Operand x = random_operand(rng_, {9, h}, dt(), 2.f), y = random_operand(rng_, {9, h}, dt());
    Operand w = random_operand(rng_, {h}, dt(), 0.3f, 1.f);
    Tensor fused_x = x.dev.clone(), fused = poisoned({9, h}, dt());
    cuda::add_rms_norm(ctx(), fused_x, y.dev, w.dev, 1e-5f, 0.f, fused);
    Tensor sep_x = x.dev.clone(), sep = poisoned({9, h}, dt());
    cuda::add(ctx(), sep_x, y.dev);
    cuda::rms_norm(ctx(), sep_x, w.dev, 1e-5f, 0.f, sep);
    expect_same_bits(fused_x, sep_x, "add_rms_norm sum h" + std::to_string(h));
    expect_same_bits(fused, sep, "add_rms_norm h" + std::to_string(h));
    Tensor ref_x = x.host.clone(), ref = empty_f32({9, h});
    cpu::add(ref_x, y.host);
    cpu::rms_norm(ref_x, w.host, 1e-5f, 0.f, ref);
    expect_close(fused, ref, dt(), "add_rms_norm_h" + std::to_string(h));
  }
}

// The gated activation of a stacked gate / up product is that of its two halves, bit for bit.
TEST_P(OpsGpu, GatedActOfStackedHalves) {
  for (const int64_t f : {int64_t(256), int64_t(250)})  // vector and element paths
    for (const ops::GateAct act : {ops::GateAct::kSilu, ops::GateAct::kGeluTanh}) {
      const auto ops_ = side_by_side(rng_, 7, {f, f}, dt(), 3.f);
      Tensor fused = poisoned({7, f}, dt()), sep = poisoned({7, f}, dt());
      cuda::gated_act(ctx(), ops_[0].dev, act, fused);
      cuda::gated_act(ctx(), ops_[1].dev, ops_[2].dev, act, sep);
      expect_same_bits(fused, sep, "gated_act halves f" + std::to_string(f));
      Tensor ref = empty_f32({7, f});
      cpu::gated_act(ops_[0].host, act, ref);
      expect_close(fused, ref, dt(), "gated_act_halves_f" + std::to_string(f));
    }
}

// RoPE of q and k and the cache append of k and v from one q / k / v product give what rope then
// kv_cache_write give (v bit for bit; q and k up to how the compiler contracts the rotation's
// products, which differs between the two kernels in fp32's last bit): GQA, partial rotary, several
// windows, a position outside the cache skipped.
TEST_P(OpsGpu, RopeKvWriteIsRopeThenCacheWrite) {
  struct Case {
    int heads, kv_heads, head_dim, rotary_dim;
  };
  for (const Case cs : {Case{8, 2, 64, 64}, Case{4, 4, 128, 128}, Case{6, 3, 96, 32}, Case{2, 1, 16, 6}}) {
    const int seqlen = 2, windows = 3, capacity = 9;
    const int64_t rows = int64_t(seqlen) * windows, qw = int64_t(cs.heads) * cs.head_dim,
                  kvw = int64_t(cs.kv_heads) * cs.head_dim;
    const auto qkv = side_by_side(rng_, rows, {qw, kvw, kvw}, dt());
    const std::vector<int32_t> p = {0, 1, 7, 8, 8, 9};  // the last window's 9 is outside: skipped
    const Tensor pos_host = Tensor::from_i32(p, {rows}), pos = pos_host.to(Device::cuda(0));
    std::vector<float> inv_freq;
    for (int i = 0; i < cs.rotary_dim / 2; ++i) inv_freq.push_back(float(std::pow(10000.0, -2.0 * i / cs.rotary_dim)));
    const ops::RopeArgs r{cs.heads, cs.kv_heads, cs.head_dim, cs.rotary_dim, &inv_freq, 1.1f};
    Operand kc = random_operand(rng_, {windows * capacity, kvw}, dt()), vc = random_operand(rng_, kc.dev.shape(), dt());
    Tensor fused_k = kc.dev.clone(), fused_v = vc.dev.clone(), fused_q = poisoned({rows, qw}, dt());
    cuda::rope_kv_write(ctx(), qkv[0].dev, pos, seqlen, r, fused_k, fused_v, fused_q);
    Tensor q = qkv[1].dev.clone(), k = qkv[2].dev.clone(), sep_k = kc.dev.clone(), sep_v = vc.dev.clone();
    cuda::rope(ctx(), q, pos, cs.heads, cs.head_dim, cs.rotary_dim, inv_freq, r.attention_factor);
    cuda::rope(ctx(), k, pos, cs.kv_heads, cs.head_dim, cs.rotary_dim, inv_freq, r.attention_factor);
    cuda::kv_cache_write(ctx(), sep_k, k, pos, seqlen);
    cuda::kv_cache_write(ctx(), sep_v, qkv[3].dev, pos, seqlen);
    const std::string what = "rope_kv_write d" + std::to_string(cs.head_dim) + " r" + std::to_string(cs.rotary_dim);
    expect_close(fused_q, q, dt(), what + "_q_vs_rope");
    expect_close(fused_k, sep_k, dt(), what + "_k_vs_rope");
    expect_same_bits(fused_v, sep_v, what + " v cache");
    Tensor ref_q = empty_f32({rows, qw}), ref_k = kc.host.clone(), ref_v = vc.host.clone();
    cpu::rope_kv_write(qkv[0].host, pos_host, seqlen, r, ref_k, ref_v, ref_q);
    expect_close(fused_q, ref_q, dt(), what + "_q");
    expect_close(fused_k, ref_k, dt(), what + "_k");
    expect_close(fused_v, ref_v, dt(), what + "_v");
  }
}

TEST_P(OpsGpu, GatedAct) {
  for (const ops::GateAct act : {ops::GateAct::kSilu, ops::GateAct::kGeluTanh}) {
    const std::string name = act == ops::GateAct::kSilu ? "silu_mul" : "gelu_tanh_mul";
    Operand g = random_operand(rng_, {33, 250}, dt(), 3.f), u = random_operand(rng_, {33, 250}, dt());
    Tensor out = poisoned({33, 250}, dt());
    cuda::gated_act(ctx(), g.dev, u.dev, act, out);
    Tensor ref = empty_f32({33, 250});
    cpu::gated_act(g.host, u.host, act, ref);
    expect_close(out, ref, dt(), name);
    // Odd element count: the scalar path.
    Operand g2 = random_operand(rng_, {7, 13}, dt(), 3.f), u2 = random_operand(rng_, {7, 13}, dt());
    Tensor out2 = poisoned({7, 13}, dt());
    cuda::gated_act(ctx(), g2.dev, u2.dev, act, out2);
    Tensor ref2 = empty_f32({7, 13});
    cpu::gated_act(g2.host, u2.host, act, ref2);
    expect_close(out2, ref2, dt(), name + "_odd");
  }
}

TEST_P(OpsGpu, ScaleSoftcap) {
  Operand x = random_operand(rng_, {19, 77}, dt(), 40.f);
  Tensor xs = x.dev.clone();
  cuda::scale(ctx(), xs, 0.5f);
  Tensor ref = x.host.clone();
  cpu::scale(ref, 0.5f);
  expect_close(xs, ref, dt(), "scale");
  Tensor xc = x.dev.clone();
  cuda::softcap(ctx(), xc, 30.f);
  Tensor refc = x.host.clone();
  cpu::softcap(refc, 30.f);
  expect_close(xc, refc, dt(), "softcap");
}

TEST_P(OpsGpu, Relu) {
  Operand x = random_operand(rng_, {41, 129}, dt());
  Tensor xd = x.dev;
  cuda::relu(ctx(), xd);
  Tensor ref = x.host.clone();
  cpu::relu(ref);
  expect_close(xd, ref, dt(), "relu");
}

TEST_P(OpsGpu, Add) {
  for (const Shape& shape : {Shape{16, 256}, Shape{5, 37}}) {
    Operand x = random_operand(rng_, shape, dt()), y = random_operand(rng_, shape, dt());
    Tensor xd = x.dev;
    cuda::add(ctx(), xd, y.dev);
    Tensor ref = x.host.clone();
    cpu::add(ref, y.host);
    expect_close(xd, ref, dt(), "add_" + std::to_string(shape[1]));
  }
}

TEST_P(OpsGpu, TokenNll) {
  const int64_t rows = 9, vocab = 5003;
  Operand logits = random_operand(rng_, {rows, vocab}, dt(), 4.f);
  std::uniform_int_distribution<int32_t> u(0, int32_t(vocab - 1));
  std::vector<int32_t> t(static_cast<size_t>(rows));
  for (auto& x : t) x = u(rng_);
  Tensor out = poisoned({rows}, DType::F32);
  cuda::token_nll(ctx(), logits.dev, ids_on_device(t), out);
  Tensor ref = empty_f32({rows});
  cpu::token_nll(logits.host, Tensor::from_i32(t, {rows}), ref);
  expect_close(out, ref, DType::F32, std::string("token_nll_") + dtype_name(dt()));
}

// Out-of-range ids are the user's input: the op front ends reject them on the GPU exactly as on the
// CPU (an InputError naming the id and its position), instead of the kernels writing NaN.
TEST_P(OpsGpu, OutOfRangeIdsAreRejectedLikeOnTheCpu) {
  ExecContext cpu_ctx(Device::cpu());
  Operand table = random_operand(rng_, {7, 16}, dt());
  Operand logits = random_operand(rng_, {3, 7}, dt());
  for (const std::vector<int32_t>& bad : {std::vector<int32_t>{0, 7, 1}, std::vector<int32_t>{0, 2, -1}}) {
    const std::string id = std::to_string(bad[1] == 7 ? 7 : -1);
    const std::string pos = bad[1] == 7 ? "position 1" : "position 2";
    for (ExecContext* c : {&ctx(), &cpu_ctx}) {
      const bool gpu = c->is_cuda();
      SCOPED_TRACE(gpu ? "cuda" : "cpu");
      const Tensor ids = gpu ? ids_on_device(bad) : Tensor::from_i32(bad, {3});
      const Tensor tab = gpu ? table.dev : table.host, lg = gpu ? logits.dev : logits.host;
      const std::string e1 = sp::test::input_error([&] { ops::embedding(*c, tab, ids); });
      EXPECT_NE(e1.find("token id " + id + " at " + pos), std::string::npos) << e1;
      const std::string e2 = sp::test::input_error([&] { ops::token_nll(*c, lg, ids); });
      EXPECT_NE(e2.find("target " + id + " at " + pos), std::string::npos) << e2;
    }
  }
}

TEST_P(OpsGpu, KlDivRows) {
  const int64_t rows = 9, vocab = 5003;
  Operand a = random_operand(rng_, {rows, vocab}, dt(), 4.f), b = random_operand(rng_, {rows, vocab}, dt(), 4.f);
  Tensor out = poisoned({rows}, DType::F32);
  cuda::kl_div_rows(ctx(), a.dev, b.dev, out);
  Tensor ref = empty_f32({rows});
  cpu::kl_div_rows(a.host, b.host, ref);
  expect_close(out, ref, DType::F32, std::string("kl_div_rows_") + dtype_name(dt()));
}

TEST_P(OpsGpu, ArgmaxRows) {
  const int64_t rows = 12, vocab = 3001;
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(rows * vocab));
  for (auto& x : v) x = n(rng_);
  // Ties: row 0 has its maximum twice (the lower index must win); row 1 at the last column.
  v[100] = v[2000] = 50.f;
  v[size_t(vocab + vocab - 1)] = 60.f;
  Operand logits = upload(std::move(v), {rows, vocab}, dt());
  Tensor out = poisoned({rows}, DType::I32);
  cuda::argmax_rows(ctx(), logits.dev, out);
  Tensor ref = Tensor::empty({rows}, DType::I32);
  cpu::argmax_rows(logits.host, ref);
  EXPECT_EQ(out.to_f64_vector(), ref.to_f64_vector());
}

TEST_P(OpsGpu, Convert) {
  // Values spanning bf16 / f16 rounding cases, subnormals and the f16 overflow to inf.
  std::normal_distribution<float> n(0.f, 100.f);
  std::vector<float> v(2053);
  for (auto& x : v) x = n(rng_);
  v[0] = 1e-6f;
  v[1] = -3e-8f;
  v[2] = 70000.f;
  v[3] = 1.f + 1.f / 512.f;  // ties-to-even in bf16
  Operand x = upload(v, {int64_t(v.size())}, DType::F32);
  // F32 -> dt, then dt -> F32: each direction against the CPU conversion, bit for bit.
  Tensor half = poisoned({int64_t(v.size())}, dt());
  cuda::convert(ctx(), x.dev, half);
  Tensor ref_half = Tensor::empty({int64_t(v.size())}, dt());
  cpu::convert(x.host, ref_half);
  Tensor back = poisoned({int64_t(v.size())}, DType::F32);
  cuda::convert(ctx(), half, back);
  Tensor ref_back = empty_f32({int64_t(v.size())});
  cpu::convert(ref_half, ref_back);
  const auto a = half.to(Device::cpu()), b = ref_half;
  EXPECT_EQ(0, std::memcmp(a.raw(), b.raw(), a.nbytes())) << "F32 -> " << dtype_name(dt()) << " differs";
  EXPECT_EQ(back.to_f64_vector(), ref_back.to_f64_vector());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, OpsGpu, ::testing::Values(DType::F32, DType::BF16, DType::F16),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

}  // namespace
}  // namespace sp
