// RoPE scaling: the inverse frequencies and attention factors of every supported rope type
// against a float64 transliteration of transformers' rope initialisation functions
// (modeling_rope_utils.py, transformers 5: whole-vector torch.where / clamp steps, written
// independently of model/rope.cpp's per-element loops), read from config.json as Hub checkpoints
// write them; plus the op's use of the attention factor.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "core/context.h"
#include "kernels/ops.h"
#include "model/rope.h"
#include "test_util.h"

namespace sp::model {
namespace {

using nlohmann::json;
using Vec = std::vector<double>;
constexpr double kPi = std::numbers::pi;

// torch-like helpers over whole vectors.
Vec arange_pow_inv(double base, int dim) {  // 1 / base ** (arange(0, dim, 2) / dim)
  Vec v;
  for (int i = 0; i < dim; i += 2) v.push_back(1.0 / std::pow(base, double(i) / dim));
  return v;
}
template <class F>
Vec map(const Vec& a, F f) {
  Vec o(a.size());
  for (size_t i = 0; i < a.size(); ++i) o[i] = f(a[i], i);
  return o;
}

struct Expected {
  Vec inv_freq;
  double attention_factor;
};

Expected hf_default(double base, int dim) { return {arange_pow_inv(base, dim), 1.0}; }

Expected hf_linear(double base, int dim, double factor) {
  return {map(arange_pow_inv(base, dim), [&](double f, size_t) { return f / factor; }), 1.0};
}

Expected hf_dynamic(double base, int dim, int max_pos, double factor, int seq_len) {
  const double len = seq_len > max_pos ? seq_len : max_pos;
  base = base * std::pow((factor * len / max_pos) - (factor - 1), double(dim) / (dim - 2));
  return {arange_pow_inv(base, dim), 1.0};
}

Expected hf_llama3(double base, int dim, double factor, double low_ff, double high_ff, int old_ctx) {
  const Vec inv = arange_pow_inv(base, dim);
  const double low_wl = old_ctx / low_ff, high_wl = old_ctx / high_ff;
  const Vec wavelen = map(inv, [](double f, size_t) { return 2 * kPi / f; });
  const Vec llama = map(inv, [&](double f, size_t i) { return wavelen[i] > low_wl ? f / factor : f; });
  const Vec smooth = map(wavelen, [&](double w, size_t) { return (old_ctx / w - low_ff) / (high_ff - low_ff); });
  const Vec smoothed = map(llama, [&](double f, size_t i) { return (1 - smooth[i]) * f / factor + smooth[i] * f; });
  return {map(llama,
              [&](double f, size_t i) {
                const bool medium = !(wavelen[i] < high_wl) && !(wavelen[i] > low_wl);
                return medium ? smoothed[i] : f;
              }),
          1.0};
}

struct YarnArgs {
  double factor = 0;  // 0: absent
  double attention_factor = 0, mscale = 0, mscale_all_dim = 0, beta_fast = 0, beta_slow = 0;
  int original_max = 0, max_pos = 0;
  bool truncate = true;
};

Expected hf_yarn(double base, int dim, YarnArgs a) {
  double factor = a.factor != 0 ? a.factor : double(a.max_pos) / a.original_max;
  auto get_mscale = [](double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
  double af = a.attention_factor;
  if (af == 0)
    af = (a.mscale != 0 && a.mscale_all_dim != 0) ? get_mscale(factor, a.mscale) / get_mscale(factor, a.mscale_all_dim)
                                                  : get_mscale(factor, 1);
  const double beta_fast = a.beta_fast != 0 ? a.beta_fast : 32, beta_slow = a.beta_slow != 0 ? a.beta_slow : 1;
  auto find_correction_dim = [&](double rot) {
    return (dim * std::log(a.original_max / (rot * 2 * kPi))) / (2 * std::log(base));
  };
  double low = find_correction_dim(beta_fast), high = find_correction_dim(beta_slow);
  if (a.truncate) low = std::floor(low), high = std::ceil(high);
  low = std::max(low, 0.0), high = std::min(high, double(dim - 1));
  if (low == high) high += 0.001;
  const Vec pos_freqs = map(arange_pow_inv(base, dim), [](double f, size_t) { return 1.0 / f; });
  const Vec extrap = map(pos_freqs, [](double p, size_t) { return 1.0 / p; });
  const Vec interp = map(pos_freqs, [&](double p, size_t) { return 1.0 / (factor * p); });
  const Vec ramp = map(Vec(size_t(dim / 2)),
                       [&](double, size_t i) { return std::clamp((double(i) - low) / (high - low), 0.0, 1.0); });
  const Vec ef = map(ramp, [](double r, size_t) { return 1 - r; });
  return {map(interp, [&](double ip, size_t i) { return ip * (1 - ef[i]) + extrap[i] * ef[i]; }), af};
}

// _compute_longrope_parameters: dim = int(head_dim * partial_rotary_factor); the factor defaults to
// max_pos / original; long factors when seq_len > original.
Expected hf_longrope(double base, int dim, const Vec& short_f, const Vec& long_f, int original_max, int max_pos,
                     int seq_len, double factor = 0, double attention_factor = 0) {
  if (factor == 0) factor = double(max_pos) / original_max;
  double af = attention_factor;
  if (af == 0) af = factor <= 1.0 ? 1.0 : std::sqrt(1 + std::log(factor) / std::log(double(original_max)));
  const Vec& ext = seq_len > original_max ? long_f : short_f;
  Vec shape;
  for (int i = 0; i < dim; i += 2) shape.push_back(double(i) / dim);
  return {map(shape, [&](double s, size_t i) { return 1.0 / (ext[i] * std::pow(base, s)); }), af};
}

io::ModelConfig config(const json& extra, int head_dim = 128, int max_pos = 131072) {
  json j = {{"model_type", "llama"},
            {"hidden_size", head_dim * 4},
            {"num_hidden_layers", 1},
            {"num_attention_heads", 4},
            {"intermediate_size", 64},
            {"vocab_size", 32},
            {"max_position_embeddings", max_pos}};
  j.update(extra);
  return io::parse_model_config(j, "config.json");
}

void expect_table(const RopeTable& got, const Expected& want, const std::string& what) {
  ASSERT_EQ(got.inv_freq.size(), want.inv_freq.size()) << what;
  for (size_t i = 0; i < want.inv_freq.size(); ++i) {
    EXPECT_NEAR(got.inv_freq[i], want.inv_freq[i], 1e-13 * want.inv_freq[i]) << what << " i=" << i;
    EXPECT_EQ(got.inv_freq_f32[i], float(got.inv_freq[i])) << what;
  }
  EXPECT_NEAR(got.attention_factor, want.attention_factor, 1e-14) << what;
  ::testing::Test::RecordProperty(what, "ok");
}

TEST(RopeScaling, DefaultAndLinear) {
  expect_table(rope_table(config({{"rope_theta", 500000.0}})), hf_default(500000, 128), "default");
  // transformers 5 layout: rope_parameters holds rope_theta.
  expect_table(
      rope_table(config({{"rope_parameters", {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 1e4}}}}, 64)),
      hf_linear(1e4, 64, 4.0), "linear");
  // transformers 4 layout: rope_scaling with the legacy "type" key.
  expect_table(rope_table(config({{"rope_scaling", {{"type", "linear"}, {"factor", 2.0}}}})), hf_linear(1e4, 128, 2.0),
               "linear_legacy_type");
}

TEST(RopeScaling, DynamicGrowsPastMaxPositions) {
  const auto c = config({{"rope_scaling", {{"rope_type", "dynamic"}, {"factor", 2.0}}}}, 64, 2048);
  expect_table(rope_table(c), hf_default(1e4, 64), "dynamic_short");
  expect_table(rope_table(c, 2048), hf_default(1e4, 64), "dynamic_at_max");
  EXPECT_FALSE(rope_depends_on_length(c, 2048));
  EXPECT_TRUE(rope_depends_on_length(c, 2049));
  expect_table(rope_table(c, 5000), hf_dynamic(1e4, 64, 2048, 2.0, 5000), "dynamic_5000");
  const Expected same = hf_dynamic(1e4, 64, 2048, 2.0, 5000);
  EXPECT_LT(same.inv_freq[10], hf_default(1e4, 64).inv_freq[10]);  // the reference really grew the base
}

TEST(RopeScaling, Llama3) {
  // meta-llama/Llama-3.1-8B's config.json.
  const json rs = {{"factor", 8.0},
                   {"low_freq_factor", 1.0},
                   {"high_freq_factor", 4.0},
                   {"original_max_position_embeddings", 8192},
                   {"rope_type", "llama3"}};
  expect_table(rope_table(config({{"rope_theta", 500000.0}, {"rope_scaling", rs}})),
               hf_llama3(500000, 128, 8, 1, 4, 8192), "llama3_8b");
  // Llama-3.2-1B: factor 32, head_dim 64.
  json rs2 = rs;
  rs2["factor"] = 32.0;
  expect_table(rope_table(config({{"rope_theta", 500000.0}, {"rope_scaling", rs2}}, 64)),
               hf_llama3(500000, 64, 32, 1, 4, 8192), "llama3_1b");
}

TEST(RopeScaling, Yarn) {
  // Qwen2.5 long-context recipe.
  expect_table(rope_table(config({{"rope_theta", 1e6},
                                  {"rope_scaling",
                                   {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}}}})),
               hf_yarn(1e6, 128, {.factor = 4, .original_max = 32768}), "yarn_qwen");
  // DeepSeek-style mscale / mscale_all_dim, betas given.
  expect_table(rope_table(config({{"rope_parameters",
                                   {{"rope_type", "yarn"},
                                    {"rope_theta", 1e4},
                                    {"factor", 40.0},
                                    {"mscale", 0.707},
                                    {"mscale_all_dim", 1.0},
                                    {"beta_fast", 16},
                                    {"beta_slow", 2},
                                    {"original_max_position_embeddings", 4096}}}},
                                 64)),
               hf_yarn(1e4, 64,
                       {.factor = 40,
                        .mscale = 0.707,
                        .mscale_all_dim = 1.0,
                        .beta_fast = 16,
                        .beta_slow = 2,
                        .original_max = 4096}),
               "yarn_mscale");
  // attention_factor given, truncate false (gpt-oss style).
  expect_table(rope_table(config({{"rope_parameters",
                                   {{"rope_type", "yarn"},
                                    {"rope_theta", 150000.0},
                                    {"factor", 32.0},
                                    {"attention_factor", 1.3},
                                    {"truncate", false},
                                    {"original_max_position_embeddings", 4096}}}},
                                 64)),
               hf_yarn(150000, 64, {.factor = 32, .attention_factor = 1.3, .original_max = 4096, .truncate = false}),
               "yarn_no_truncate");
  // No factor: max_position_embeddings / original_max_position_embeddings (transformers 5).
  expect_table(
      rope_table(config({{"rope_parameters",
                          {{"rope_type", "yarn"}, {"rope_theta", 1e4}, {"original_max_position_embeddings", 8192}}}},
                        128, 65536)),
      hf_yarn(1e4, 128, {.original_max = 8192, .max_pos = 65536}), "yarn_derived_factor");
}

// Phi-3: partial rotary (frequencies over int(head_dim * factor) dims, for every rope type) and
// LongRoPE as Phi-3.5 / Phi-4-mini write it, with the top-level original_max_position_embeddings
// winning over the rope dict's (Phi3Config's default 4096 when absent).
TEST(RopeScaling, Phi3PartialRotaryAndLongRope) {
  auto phi3 = [](const json& extra, int max_pos = 131072) {
    json j = {{"model_type", "phi3"},
              {"hidden_size", 3072},
              {"num_hidden_layers", 1},
              {"num_attention_heads", 24},
              {"intermediate_size", 64},
              {"vocab_size", 32},
              {"max_position_embeddings", max_pos}};
    j.update(extra);
    return io::parse_model_config(j, "config.json");
  };
  // head_dim 128, factor 0.75: 96 rotated dims, 48 frequencies.
  io::ModelConfig c = phi3({{"partial_rotary_factor", 0.75}, {"rope_theta", 250000.0}});
  EXPECT_EQ(c.rope_dim(), 96);
  expect_table(rope_table(c), hf_default(250000, 96), "phi3_partial_default");

  Vec sf, lf;
  for (int i = 0; i < 48; ++i) sf.push_back(1.0 + 0.01 * i), lf.push_back(1.5 + 0.7 * i);
  const json rs = {{"type", "longrope"}, {"short_factor", sf}, {"long_factor", lf}};
  c = phi3({{"partial_rotary_factor", 0.75}, {"original_max_position_embeddings", 4096}, {"rope_scaling", rs}});
  expect_table(rope_table(c), hf_longrope(1e4, 96, sf, lf, 4096, 131072, 0), "longrope_short");
  expect_table(rope_table(c, 4096), hf_longrope(1e4, 96, sf, lf, 4096, 131072, 4096), "longrope_at_original");
  EXPECT_FALSE(rope_depends_on_length(c, 4096));
  EXPECT_TRUE(rope_depends_on_length(c, 4097));
  expect_table(rope_table(c, 4097), hf_longrope(1e4, 96, sf, lf, 4096, 131072, 4097), "longrope_long");
  // Generation starts over once, at the step that passes the original length.
  EXPECT_FALSE(rope_restarts_cache(c, 4095, 4096));
  EXPECT_TRUE(rope_restarts_cache(c, 4096, 4097));
  EXPECT_FALSE(rope_restarts_cache(c, 4097, 4098));

  // rope_parameters with its own original length, factor and attention_factor; no top-level
  // original: Phi3Config's 4096 wins over the dict's 2048.
  json rp = {{"rope_type", "longrope"},
             {"short_factor", sf},
             {"long_factor", lf},
             {"rope_theta", 1e4},
             {"partial_rotary_factor", 0.75},
             {"original_max_position_embeddings", 2048},
             {"factor", 8.0}};
  c = phi3({{"rope_parameters", rp}});
  EXPECT_EQ(c.rope.original_max_positions, 4096);
  expect_table(rope_table(c, 5000), hf_longrope(1e4, 96, sf, lf, 4096, 131072, 5000, 8.0), "longrope_factor");
  rp["attention_factor"] = 1.19;
  expect_table(rope_table(phi3({{"rope_parameters", rp}}), 10),
               hf_longrope(1e4, 96, sf, lf, 4096, 131072, 10, 8.0, 1.19), "longrope_attention_factor");
  // Phi3Config's old names for longrope; a factor <= 1 gives attention factor 1.
  c = phi3({{"partial_rotary_factor", 0.75},
            {"original_max_position_embeddings", 4096},
            {"rope_scaling", {{"type", "su"}, {"short_factor", sf}, {"long_factor", lf}}}},
           4096);
  EXPECT_EQ(c.rope.type, io::RopeScaling::Type::kLongRope);
  expect_table(rope_table(c), hf_longrope(1e4, 96, sf, lf, 4096, 4096, 0), "longrope_su_factor_1");
}

// The op multiplies cos and sin by the attention factor and rotates by the frequencies given.
TEST(RopeScaling, OpAppliesFrequenciesAndAttentionFactor) {
  ExecContext ctx(Device::cpu());
  const int t = 5, heads = 2, d = 8;
  const std::vector<float> inv = {1.f, 0.3f, 0.01f, 1e-4f};
  const float af = 1.25f;
  std::vector<float> xv(size_t(t * heads * d));
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = float(std::sin(0.37 * double(i)) + 0.1);
  Tensor x = Tensor::from_f32(xv, {t, heads * d});
  std::vector<int32_t> pos = {0, 3, 17, 250, 1000};
  ops::rope_(ctx, x, Tensor::from_i32(pos, {t}), heads, d, d, inv, af);
  for (int r = 0; r < t; ++r)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < d / 2; ++i) {
        const double a = pos[size_t(r)] * double(inv[size_t(i)]);
        const size_t i1 = size_t(r * heads * d + h * d + i), i2 = i1 + size_t(d / 2);
        EXPECT_NEAR(x.data<float>()[i1], af * (xv[i1] * std::cos(a) - xv[i2] * std::sin(a)), 2e-4);
        EXPECT_NEAR(x.data<float>()[i2], af * (xv[i2] * std::cos(a) + xv[i1] * std::sin(a)), 2e-4);
      }
}

}  // namespace
}  // namespace sp::model
