// Decoder-layer forward of the architecture variants the reference models do not cover (LLaMA
// with attention/MLP biases and an explicit head_dim, Qwen2 q/k/v biases, Qwen3 per-head q/k
// norms with a sliding window shorter than the sequence, OPT pre-LN and post-LN)
// against a naive float64 implementation of the transformers layers written here. Weights are
// random (synthetic source, then random norms and biases so those paths count). The taps must
// carry the Linear inputs the reference computes.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "core/context.h"
#include "io/model_config.h"
#include "model/model.h"
#include "model_test_util.h"

namespace sp {
namespace {

using Mat = std::vector<double>;  // row-major

Mat lin(const Mat& x, int m, int k, const Tensor& w, const Tensor& b) {
  const auto wv = w.to_f64_vector();
  const int n = int(w.dim(0));
  const auto bv = b.defined() ? b.to_f64_vector() : std::vector<double>(size_t(n), 0.0);
  Mat y(size_t(m) * size_t(n));
  for (int i = 0; i < m; ++i)
    for (int o = 0; o < n; ++o) {
      double s = bv[size_t(o)];
      for (int c = 0; c < k; ++c) s += x[size_t(i * k + c)] * wv[size_t(o * k + c)];
      y[size_t(i * n + o)] = s;
    }
  return y;
}

Mat norm(const Mat& x, int m, int h, const Tensor& w, const Tensor& b, double eps) {
  const auto wv = w.to_f64_vector();
  const bool ln = b.defined();
  const auto bv = ln ? b.to_f64_vector() : std::vector<double>();
  Mat y(x.size());
  for (int r = 0; r < m; ++r) {
    double mean = 0, sq = 0;
    for (int i = 0; i < h; ++i) mean += x[size_t(r * h + i)];
    mean = ln ? mean / h : 0.0;
    for (int i = 0; i < h; ++i) sq += std::pow(x[size_t(r * h + i)] - mean, 2);
    const double inv = 1.0 / std::sqrt(sq / h + eps);
    for (int i = 0; i < h; ++i)
      y[size_t(r * h + i)] = (x[size_t(r * h + i)] - mean) * inv * wv[size_t(i)] + (ln ? bv[size_t(i)] : 0.0);
  }
  return y;
}

void rope(Mat& x, int batch, int t, int heads, int d, double theta) {
  for (int b = 0; b < batch; ++b)
    for (int p = 0; p < t; ++p)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < d / 2; ++i) {
          const double a = p * std::pow(theta, -2.0 * i / d);
          double& x1 = x[size_t(((b * t + p) * heads + h) * d + i)];
          double& x2 = x[size_t(((b * t + p) * heads + h) * d + i + d / 2)];
          const double n1 = x1 * std::cos(a) - x2 * std::sin(a), n2 = x2 * std::cos(a) + x1 * std::sin(a);
          x1 = n1, x2 = n2;
        }
}

// window > 0: query i sees keys i - window < j <= i (transformers' sliding_window_causal).
Mat attend(const Mat& q, const Mat& k, const Mat& v, int batch, int t, int nh, int nkv, int d, int window) {
  Mat o(q.size());
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < nh; ++h) {
      const int kh = h / (nh / nkv);
      for (int i = 0; i < t; ++i) {
        std::vector<double> s;
        const int first = window > 0 ? std::max(0, i - window + 1) : 0;
        for (int j = first; j <= i; ++j) {
          double dot = 0;
          for (int c = 0; c < d; ++c)
            dot += q[size_t(((b * t + i) * nh + h) * d + c)] * k[size_t(((b * t + j) * nkv + kh) * d + c)];
          s.push_back(dot / std::sqrt(double(d)));
        }
        double mx = -1e300, z = 0;
        for (double e : s) mx = std::max(mx, e);
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int c = 0; c < d; ++c) {
          double acc = 0;
          for (int j = first; j <= i; ++j)
            acc += s[size_t(j - first)] / z * v[size_t(((b * t + j) * nkv + kh) * d + c)];
          o[size_t(((b * t + i) * nh + h) * d + c)] = acc;
        }
      }
    }
  return o;
}

struct Variant {
  const char* name;
  const char* config;
};

const Variant kVariants[] = {
    {"llama_bias_headdim", R"({"model_type": "llama", "hidden_size": 24, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 40,
      "vocab_size": 50, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 500.0,
      "attention_bias": true, "mlp_bias": true, "tie_word_embeddings": false})"},
    {"qwen2", R"({"model_type": "qwen2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
      "num_key_value_heads": 1, "intermediate_size": 40, "vocab_size": 50, "max_position_embeddings": 64,
      "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": true})"},
    {"qwen3_window", R"({"model_type": "qwen3", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
      "num_key_value_heads": 2, "head_dim": 6, "intermediate_size": 40, "vocab_size": 50,
      "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000.0, "attention_bias": true,
      "use_sliding_window": true, "sliding_window": 3, "max_window_layers": 1, "tie_word_embeddings": true})"},
    {"opt_pre_ln", R"({"model_type": "opt", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
      "ffn_dim": 48, "vocab_size": 50, "max_position_embeddings": 64, "do_layer_norm_before": true,
      "word_embed_proj_dim": 32, "activation_function": "relu"})"},
    {"opt_post_ln", R"({"model_type": "opt", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
      "ffn_dim": 48, "vocab_size": 50, "max_position_embeddings": 64, "do_layer_norm_before": false,
      "word_embed_proj_dim": 32, "activation_function": "relu"})"},
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class LayerVariants : public ::testing::TestWithParam<Variant> {};

TEST_P(LayerVariants, ForwardLayerMatchesFloat64) {
  const auto cfg = io::parse_model_config(nlohmann::json::parse(GetParam().config), GetParam().name);
  const bool opt = cfg.family == io::ArchFamily::Opt;
  if (cfg.qk_norm) {
    ASSERT_EQ(cfg.window_of(1), 3) << "the window (shorter than the 7 tokens) must apply";
  }
  ExecContext ctx(Device::cpu());
  model::Model m(model::make_synthetic_source(cfg, 5, 0.3f), ctx, Precision::Exact32);
  model::LayerWeights w = m.load_layer(ctx, 1);
  // Random norm weights and biases, so that those code paths are exercised.
  std::mt19937 g(42);
  std::normal_distribution<float> nd(0.f, 0.5f);
  for (const auto& s : m.layer_specs(1))
    if (model::role_is_bias(s.role) || model::role_is_norm_weight(s.role)) {
      Tensor& t = w.at(s.role);
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data<float>()[i] = (model::role_is_norm_weight(s.role) ? 1.f : 0.f) + nd(g);
    }
  const int batch = 2, t = 7, h = cfg.hidden, d = cfg.head_dim;
  const int nh = cfg.layers[1].n_heads, nkv = cfg.layers[1].n_kv_heads, rows = batch * t;
  std::vector<float> x0(size_t(rows * h));
  for (auto& v : x0) v = nd(g) * 2.f;
  Tensor hidden = Tensor::from_f32(x0, {rows, h});
  Tensor pos = model::positions_tensor(ctx, batch, t);
  std::map<std::string, std::vector<double>> taps;
  model::Tap tap = [&](int, model::TapPoint at, const Tensor& x) { taps[to_string(at)] = x.to_f64_vector(); };
  m.forward_layer(ctx, 1, w, hidden, pos, batch, t, &tap);

  // The float64 reference of the transformers layer.
  const double eps = cfg.norm_eps;
  Mat x(x0.begin(), x0.end());
  std::map<std::string, Mat> want;
  const bool pre = cfg.norm_before;
  Mat a_in = pre ? norm(x, rows, h, w.attn_norm_w, w.attn_norm_b, eps) : x;
  want["attn_in"] = a_in;
  Mat q = lin(a_in, rows, h, w.q_w, w.q_b), k = lin(a_in, rows, h, w.k_w, w.k_b), v = lin(a_in, rows, h, w.v_w, w.v_b);
  if (cfg.qk_norm) {  // RMSNorm over each head's d values: rows of [rows * heads, d]
    q = norm(q, rows * nh, d, w.q_norm_w, Tensor(), eps);
    k = norm(k, rows * nkv, d, w.k_norm_w, Tensor(), eps);
  }
  if (!opt) {
    rope(q, batch, t, nh, d, cfg.rope_theta);
    rope(k, batch, t, nkv, d, cfg.rope_theta);
  }
  Mat att = attend(q, k, v, batch, t, nh, nkv, d, cfg.window_of(1));
  want["attn_o_in"] = att;
  Mat o = lin(att, rows, nh * d, w.o_w, w.o_b);
  for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
  if (!pre) x = norm(x, rows, h, w.attn_norm_w, w.attn_norm_b, eps);
  want["mid_resid"] = x;
  Mat m_in = pre ? norm(x, rows, h, w.mlp_norm_w, w.mlp_norm_b, eps) : x;
  want["mlp_in"] = m_in;
  const int f = cfg.layers[1].intermediate;
  Mat act;
  if (opt) {
    act = lin(m_in, rows, h, w.up_w, w.up_b);
    for (double& e : act) e = std::max(e, 0.0);
  } else {
    Mat gt = lin(m_in, rows, h, w.gate_w, w.gate_b), up = lin(m_in, rows, h, w.up_w, w.up_b);
    for (size_t i = 0; i < gt.size(); ++i) act.push_back(gt[i] / (1 + std::exp(-gt[i])) * up[i]);
  }
  want["mlp_down_in"] = act;
  Mat dn = lin(act, rows, f, w.down_w, w.down_b);
  for (size_t i = 0; i < x.size(); ++i) x[i] += dn[i];
  if (!pre) x = norm(x, rows, h, w.mlp_norm_w, w.mlp_norm_b, eps);
  want["layer_out"] = x;

  ASSERT_EQ(taps.size(), want.size());
  for (const auto& [name, ref] : want) {
    const auto& got = taps[name];
    ASSERT_EQ(got.size(), ref.size()) << name;
    // Relative error, with an absolute floor at 1e-4 of the tap's largest magnitude (>= 1): fp32
    // rounding of the large entries lands in the near-zero ones.
    double scale = 1, worst = 0;
    for (double r : ref) scale = std::max(scale, std::abs(r));
    size_t at = 0;
    for (size_t i = 0; i < ref.size(); ++i)
      if (const double e = std::abs(got[i] - ref[i]) / (1e-4 * scale + std::abs(ref[i])); e > worst) worst = e, at = i;
    EXPECT_LT(worst, 1e-3) << GetParam().name << " tap " << name << ": element " << at << " got " << got[at] << " want "
                           << ref[at];
  }
  const auto out = hidden.to_f32_vector();
  EXPECT_LT(test::max_abs_diff(out, x), 1e-3) << "hidden after the layer";
}

INSTANTIATE_TEST_SUITE_P(Families, LayerVariants, ::testing::ValuesIn(kVariants),
                         [](const ::testing::TestParamInfo<Variant>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace sp
