#include "prune/selection.h"

#include <algorithm>
#include <numeric>

#include "kernels/ops.h"
#include "kernels/ops_linalg.h"
#include "prune/obs.h"
#include "prune/scores.h"

namespace sp::prune {
namespace {

bool need_gram(const Recipe& r) {
  return r.metric == ScoreMetric::Obs || r.reconstruct || r.normalize == Normalization::Output;
}

int obs_step(const PruneOptions& opt, int n) { return opt.obs_step > 0 ? opt.obs_step : std::max(1, (n + 255) / 256); }

}  // namespace

std::vector<std::vector<int32_t>> consumer_groups(const RunContext& rc, int layer, int module) {
  if (module == kAttention) return attention_layout(rc.cfg, layer, rc.opt.attention).q_rows;
  std::vector<std::vector<int32_t>> g(size_t(rc.units(layer, kMlp)));
  for (size_t j = 0; j < g.size(); ++j) g[j] = {int32_t(j)};
  return g;
}

void want_module_stats(const RunContext& rc, StatsCollector& col, int module, bool cross, bool residual) {
  col.want(kConsumerIn[module], need_gram(rc.recipe), cross);
  if (rc.recipe.metric == ScoreMetric::Wanda) col.want(kProducerIn[module]);
  if (residual && rc.recipe.normalize == Normalization::Residual) col.want(kResidualOut[module]);
}

Choice choose(RunContext& rc, const char* phase, int layer, int module, const model::LayerWeights& w,
              StatsCollector& col, int max_removed, bool dense_target) {
  ExecContext& ctx = rc.ctx;
  Choice c;
  const std::string what = where(layer, module);
  if (rc.recipe.metric == ScoreMetric::Obs) {
    ChannelStats& s = col.at(kConsumerIn[module]);
    const std::string key = fmt::format("{}.obs_{}", phase, kModuleName[module]);
    Tensor hinv = rc.clock.timed(key + "_inverse", [&] {
      Tensor l = damped_cholesky(ctx, s.gram, rc.opt.damping, what).l;
      ops::cholesky_inverse_(ctx, l);  // in l's memory: the Gram and one more [n, n] matrix
      return l;
    });
    const Tensor& wc = consumer_weight(w, module);
    Tensor target;
    if (dense_target) {
      std::vector<int32_t> all(size_t(wc.dim(1)));
      std::iota(all.begin(), all.end(), 0);
      RefitStats ri;
      ri.toward_weights = rc.recipe.toward_weights;
      ri.gram = &s.gram;
      ri.cross = &s.cross;
      target = refit_columns(ctx, wc, Tensor(), ri, all, rc.opt.damping, what).w;
    } else {
      target = ops::convert(ctx, wc, DType::F64);
    }
    RemovalCurve curve = rc.clock.timed(key + "_greedy", [&] {
      return obs_greedy(ctx, std::move(target), std::move(hinv), consumer_groups(rc, layer, module), max_removed,
                        obs_step(rc.opt, rc.units(layer, module)));
    });
    c.order = std::move(curve.order);
    c.cost = std::move(curve.cost);
    c.scores = std::move(curve.saliency);
    return c;
  }
  ModuleStats mi;
  mi.consumer_in = &col.at(kConsumerIn[module]);
  if (rc.recipe.metric == ScoreMetric::Wanda) mi.producer_in = &col.at(kProducerIn[module]);
  c.scores = module == kAttention
                 ? attention_scores(rc.recipe.metric, w, attention_layout(rc.cfg, layer, rc.opt.attention), mi)
                 : mlp_scores(rc.recipe.metric, w, mi);
  c.order.resize(c.scores.size());
  std::iota(c.order.begin(), c.order.end(), 0);
  std::stable_sort(c.order.begin(), c.order.end(),
                   [&](int32_t a, int32_t b) { return c.scores[size_t(a)] < c.scores[size_t(b)]; });
  c.cost.assign(1, 0.0);
  for (int32_t g : c.order) c.cost.push_back(c.cost.back() + c.scores[size_t(g)]);
  return c;
}

std::vector<uint8_t> keep_mask(int n, const std::vector<int32_t>& order, int k) {
  std::vector<uint8_t> keep(size_t(n), 1);
  for (int i = 0; i < k; ++i) keep[size_t(order[size_t(i)])] = 0;
  return keep;
}

std::vector<int32_t> kept_units(const std::vector<uint8_t>& keep) {
  std::vector<int32_t> kept;
  for (size_t u = 0; u < keep.size(); ++u)
    if (keep[u]) kept.push_back(int32_t(u));
  return kept;
}

}  // namespace sp::prune
