#include "prune/statistics.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "core/trace_range.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"

namespace sp::prune {

namespace {
enum Acc { kSum, kSumsq, kGram, kCross, kRefSum };
}

void ChannelStats::start(ExecContext& ctx, int64_t n, bool want_gram, bool want_cross) {
  if (acc_[kSum].defined()) return;
  acc_[kSum] = ops::exact_zeros(ctx, n);
  acc_[kSumsq] = ops::exact_zeros(ctx, n);
  if (want_gram) acc_[kGram] = ops::exact_zeros(ctx, ops::lower_count(n));  // symmetric: its lower triangle
  if (want_cross) {
    acc_[kCross] = ops::exact_zeros(ctx, n * n);
    acc_[kRefSum] = ops::exact_zeros(ctx, n);
  }
}

void ChannelStats::add(ExecContext& ctx, const Tensor& x, const Tensor* reference, bool want_gram, bool want_cross,
                       bool fp64_products) {
  SP_CHECK(!reduced_, "statistics: add after reduce");
  const int64_t n = x.dim(1);
  start(ctx, n, want_gram, want_cross);
  SP_CHECK(acc_[kSum].numel() == 3 * n + 1, "statistics: width changed to {}", n);
  tokens += x.dim(0);
  // This batch's contribution alone (fresh zeros), then added exactly.
  Tensor s = Tensor::zeros({n}, DType::F64, ctx.device()), q = Tensor::zeros({n}, DType::F64, ctx.device());
  ops::column_stats_(ctx, s, q, x);
  ops::exact_accumulate_(ctx, acc_[kSum], s);
  ops::exact_accumulate_(ctx, acc_[kSumsq], q);
  if (!acc_[kGram].defined() && !acc_[kCross].defined()) return;
  // fp32 activations: products in fp64, since the least-squares solves amplify the Gram's rounding
  // by its condition number and the removal orders compare near-equal saliencies (fp32 partial sums
  // would let the CPU and the GPU pick different groups). 16-bit activations: their exact products
  // on tensor cores, summed in fp32 within the batch (gram_accumulate_), unless fp64 is asked for.
  const bool wide = fp64_products || x.dtype() == DType::F32 || x.dtype() == DType::F64;
  const Tensor x64 = wide ? ops::convert(ctx, x, DType::F64) : Tensor();
  Tensor part;
  auto product = [&](const Tensor& a, const Tensor& a64) {  // part = a^T x
    if (wide) {
      if (!part.defined()) part = Tensor::empty({n, n}, DType::F64, ctx.device());
      ops::gemm_(ctx, part, a64, true, x64, false, 1.0, 0.0);
    } else {
      part = Tensor();  // freed before its successor is allocated
      part = Tensor::zeros({n, n}, DType::F64, ctx.device());
      ops::gram_accumulate_(ctx, part, a, x);
    }
  };
  if (acc_[kGram].defined()) {
    if (wide) {
      product(x, x64);
      ops::exact_accumulate_lower_(ctx, acc_[kGram], part);
    } else {  // straight into the limbs, without an [n, n] F64 product (a 28672-wide MLP: 6.1 GiB)
      ops::gram_exact_accumulate_(ctx, acc_[kGram], x);
    }
  }
  if (acc_[kCross].defined()) {
    SP_CHECK(reference != nullptr && reference->shape() == x.shape(), "cross-Gram without matching reference rows");
    product(*reference, wide ? ops::convert(ctx, *reference, DType::F64) : Tensor());
    ops::exact_accumulate_(ctx, acc_[kCross], part);
    Tensor rs = Tensor::zeros({n}, DType::F64, ctx.device()), none;
    ops::column_stats_(ctx, rs, none, *reference);
    ops::exact_accumulate_(ctx, acc_[kRefSum], rs);
  }
}

void ChannelStats::reduce(ExecContext& ctx, Communicator& comm, int64_t n, bool want_gram, bool want_cross,
                          const std::string& what) {
  SP_CHECK(!reduced_, "statistics: reduced twice");
  start(ctx, n, want_gram, want_cross);  // a rank that saw no batch contributes zeros
  comm.allreduce_sum(std::span<int64_t>(&tokens, 1));
  Tensor* out[5] = {&sum, &sumsq, &gram, &cross, &ref_sum};
  const char* names[5] = {"sum", "sum of squares", "Gram matrix", "cross-Gram matrix", "reference sum"};
  for (int i = 0; i < 5; ++i) {
    if (!acc_[i].defined()) continue;
    comm.allreduce_sum(acc_[i]);
    const std::string where = fmt::format("{}: {}", what, names[i]);
    *out[i] = i == kGram    ? ops::exact_value_symmetric(ctx, acc_[i], n, where)
              : i == kCross ? ops::exact_value(ctx, acc_[i], Shape{n, n}, where)
                            : ops::exact_value(ctx, acc_[i], Shape{n}, where);
    acc_[i] = Tensor();
  }
  reduced_ = true;
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

void StatsCollector::want(model::TapPoint point, bool gram, bool cross) {
  TapRequest& w = want_[point];
  w.gram = w.gram || gram;
  w.cross = w.cross || cross;
}

model::Tap StatsCollector::tap() {
  return [this](int, model::TapPoint point, const Tensor& x) {
    auto it = want_.find(point);
    if (it == want_.end()) return;
    const auto ref = reference_.find(it->first);
    const TraceRange range(ctx_, "statistics");
    timer_.start();
    stats_[it->first].add(ctx_, x, ref == reference_.end() ? nullptr : &ref->second, it->second.gram, it->second.cross,
                          fp64_);
    timer_.stop();
  };
}

void StatsCollector::reduce(Communicator& comm, const std::map<model::TapPoint, int64_t>& widths,
                            const std::string& where) {
  ctx_.synchronize();
  const double t0 = wall_seconds();
  for (const auto& [point, w] : want_) {
    const auto width = widths.find(point);
    SP_CHECK(width != widths.end(), "statistics: no width for tap '{}'", to_string(point));
    stats_[point].reduce(ctx_, comm, width->second, w.gram, w.cross, fmt::format("{} {}", where, to_string(point)));
  }
  ctx_.synchronize();
  timer_.add(wall_seconds() - t0);
}

ChannelStats& StatsCollector::at(model::TapPoint point) {
  auto it = stats_.find(point);
  SP_CHECK(it != stats_.end(), "no statistics were collected at tap '{}'", to_string(point));
  return it->second;
}

model::Tap ActivationRecorder::tap() {
  return [this](int, model::TapPoint point, const Tensor& x) {
    if (std::find(points_.begin(), points_.end(), point) != points_.end()) recorded_[point] = x.clone();
  };
}

}  // namespace sp::prune
