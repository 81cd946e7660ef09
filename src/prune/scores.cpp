#include "prune/scores.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace sp::prune {
namespace {

// A weight matrix copied to the host in float64 (scores are cheap next to the forward).
struct HostMatrix {
  std::vector<double> v;
  int64_t rows = 0, cols = 0;
  explicit HostMatrix(const Tensor& t) : v(t.to_f64_vector()), rows(t.dim(0)), cols(t.dim(1)) {}
  double at(int64_t r, int64_t c) const { return v[size_t(r * cols + c)]; }
};

std::vector<double> ones(int64_t n) { return std::vector<double>(size_t(n), 1.0); }

// Per-channel input weights of the metric: ||X_j|| (wanda) or 1 (magnitude).
std::vector<double> input_norms(ScoreMetric metric, const ChannelStats* s, int64_t n) {
  if (metric == ScoreMetric::Magnitude) return ones(n);
  SP_CHECK(s != nullptr && s->sumsq.defined(), "wanda scores need the input channel statistics");
  std::vector<double> v = s->sq_norms();
  SP_CHECK(int64_t(v.size()) == n, "input width {} != weight width {}", v.size(), n);
  for (double& x : v) x = std::sqrt(std::max(0.0, x));
  return v;
}

// sum_j |W[r, j]| * wts[j] for row r.
double row_score(const HostMatrix& w, int64_t r, const std::vector<double>& wts) {
  double s = 0;
  for (int64_t j = 0; j < w.cols; ++j) s += std::abs(w.at(r, j)) * wts[size_t(j)];
  return s;
}

// Per column j of the consumer: sum_i |W[i, j]| * wts[j] (wanda / magnitude) or var_j sum_i W^2 (wifv).
std::vector<double> consumer_column_scores(ScoreMetric metric, const HostMatrix& w, const ChannelStats* in) {
  std::vector<double> col(size_t(w.cols), 0.0);
  const bool squared = metric == ScoreMetric::Wifv;
  for (int64_t i = 0; i < w.rows; ++i)
    for (int64_t j = 0; j < w.cols; ++j) {
      const double x = w.at(i, j);
      col[size_t(j)] += squared ? x * x : std::abs(x);
    }
  std::vector<double> wts = squared ? channel_variance(*in) : input_norms(metric, in, w.cols);
  for (size_t j = 0; j < col.size(); ++j) col[j] *= wts[j];
  return col;
}

}  // namespace

std::vector<double> consumer_channel_scores(ScoreMetric metric, const Tensor& consumer, const ChannelStats& in) {
  return consumer_column_scores(metric, HostMatrix(consumer), &in);
}

std::vector<double> flap_unit_zscores(const std::vector<double>& channel,
                                      const std::vector<std::vector<int32_t>>& unit_channels) {
  const double n = double(channel.size());
  const double mean = std::accumulate(channel.begin(), channel.end(), 0.0) / n;
  double var = 0;
  for (double c : channel) var += (c - mean) * (c - mean);
  const double sd = channel.size() > 1 ? std::sqrt(var / (n - 1)) : 0.0;
  std::vector<double> z;
  for (const auto& u : unit_channels) {
    double m = 0;
    for (int32_t j : u) m += sd > 0 ? (channel[size_t(j)] - mean) / sd : 0.0;
    z.push_back(m / double(u.size()));
  }
  return z;
}

std::vector<double> channel_variance(const ChannelStats& s) {
  SP_CHECK(s.sumsq.defined() && s.tokens > 1, "variance needs at least two tokens of statistics");
  const auto sum = s.sum.to_f64_vector(), sq = s.sumsq.to_f64_vector();
  const double t = double(s.tokens);
  std::vector<double> var(sum.size());
  for (size_t j = 0; j < var.size(); ++j) var[j] = std::max(0.0, (sq[j] - sum[j] * sum[j] / t) / (t - 1));
  return var;
}

std::vector<double> attention_scores(ScoreMetric metric, const model::LayerWeights& w, const AttentionLayout& layout,
                                     const ModuleStats& in) {
  SP_CHECK(metric != ScoreMetric::Obs, "obs saliencies come from obs.h");
  std::vector<double> s(size_t(layout.units), 0.0);
  const HostMatrix o(w.o_w);
  const std::vector<double> cols = consumer_column_scores(metric, o, in.consumer_in);
  std::vector<double> prod_wts;
  HostMatrix q(w.q_w), k(w.k_w), v(w.v_w);
  if (metric != ScoreMetric::Wifv) prod_wts = input_norms(metric, in.producer_in, q.cols);
  for (int u = 0; u < layout.units; ++u) {
    double total = 0;
    for (int32_t r : layout.q_rows[size_t(u)]) {
      total += cols[size_t(r)];  // o_proj column r pairs with q row r
      if (!prod_wts.empty()) total += row_score(q, r, prod_wts);
    }
    if (!prod_wts.empty())
      for (int32_t r : layout.kv_rows[size_t(u)]) total += row_score(k, r, prod_wts) + row_score(v, r, prod_wts);
    s[size_t(u)] = total;
  }
  return s;
}

std::vector<double> mlp_scores(ScoreMetric metric, const model::LayerWeights& w, const ModuleStats& in) {
  SP_CHECK(metric != ScoreMetric::Obs, "obs saliencies come from obs.h");
  const HostMatrix down(w.down_w);
  std::vector<double> s = consumer_column_scores(metric, down, in.consumer_in);
  if (metric == ScoreMetric::Wifv) return s;
  const HostMatrix up(w.up_w);
  const std::vector<double> wts = input_norms(metric, in.producer_in, up.cols);
  for (int64_t r = 0; r < up.rows; ++r) s[size_t(r)] += row_score(up, r, wts);
  if (w.gate_w.defined()) {
    const HostMatrix gate(w.gate_w);
    for (int64_t r = 0; r < gate.rows; ++r) s[size_t(r)] += row_score(gate, r, wts);
  }
  return s;
}

}  // namespace sp::prune
