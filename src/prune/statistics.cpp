#include "prune/statistics.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"

namespace sp::prune {

void ChannelStats::add(ExecContext& ctx, const Tensor& x, const Tensor* reference, bool want_gram, bool want_cross) {
  const int64_t n = x.dim(1);
  if (!sumsq.defined()) {
    sum = Tensor::zeros({n}, DType::F64, ctx.device());
    sumsq = Tensor::zeros({n}, DType::F64, ctx.device());
    if (want_gram) gram = Tensor::zeros({n, n}, DType::F64, ctx.device());
    if (want_cross) {
      cross = Tensor::zeros({n, n}, DType::F64, ctx.device());
      ref_sum = Tensor::zeros({n}, DType::F64, ctx.device());
    }
  }
  SP_CHECK(sumsq.dim(0) == n, "statistics: width changed from {} to {}", sumsq.dim(0), n);
  tokens += x.dim(0);
  ops::column_stats_(ctx, sum, sumsq, x);
  // Products in fp64 (not fp32 partials): the least-squares solves amplify the Gram's rounding by
  // its condition number, and the removal orders compare near-equal saliencies, so fp32 partial
  // sums would let the CPU and the GPU (different summation orders) pick different groups.
  const Tensor x64 = (gram.defined() || cross.defined()) ? ops::convert(ctx, x, DType::F64) : Tensor();
  if (gram.defined()) ops::gram_accumulate_(ctx, gram, x64, x64);
  if (cross.defined()) {
    SP_CHECK(reference != nullptr && reference->shape() == x.shape(), "cross-Gram without matching reference rows");
    ops::gram_accumulate_(ctx, cross, ops::convert(ctx, *reference, DType::F64), x64);
    Tensor none;
    ops::column_stats_(ctx, ref_sum, none, *reference);
  }
}

std::vector<double> ChannelStats::mean() const {
  std::vector<double> m = sum.to_f64_vector();
  for (double& v : m) v /= double(std::max<int64_t>(1, tokens));
  return m;
}

std::vector<double> ChannelStats::sq_norms() const { return sumsq.to_f64_vector(); }

double ChannelStats::energy() const {
  const auto v = sumsq.to_f64_vector();
  return std::accumulate(v.begin(), v.end(), 0.0);
}

void StatsCollector::want(const std::string& name, bool gram, bool cross) {
  Want& w = want_[name];
  w.gram = w.gram || gram;
  w.cross = w.cross || cross;
}

model::Tap StatsCollector::tap() {
  return [this](int, std::string_view name, const Tensor& x) {
    auto it = want_.find(std::string(name));
    if (it == want_.end()) return;
    const auto ref = reference_.find(it->first);
    stats_[it->first].add(ctx_, x, ref == reference_.end() ? nullptr : &ref->second, it->second.gram, it->second.cross);
  };
}

ChannelStats& StatsCollector::at(const std::string& name) {
  auto it = stats_.find(name);
  SP_CHECK(it != stats_.end(), "no statistics were collected at tap '{}'", name);
  return it->second;
}

model::Tap ActivationRecorder::tap() {
  return [this](int, std::string_view name, const Tensor& x) {
    if (std::find(names_.begin(), names_.end(), name) != names_.end()) recorded_[std::string(name)] = x.clone();
  };
}

}  // namespace sp::prune
