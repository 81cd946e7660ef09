#include "prune/removal_curves.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/error.h"
#include "core/fail_point.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"
#include "prune/compact.h"
#include "prune/obs.h"
#include "prune/scores.h"
#include "prune/selection.h"

namespace sp::prune {

using model::HiddenStream;
using model::LayerWeights;

namespace {

// A (layer, module) block: its groups' size and the bounds from s_min / s_max; flat curve.
Block make_block(const RunContext& rc, int l, int mod) {
  const int n = rc.units(l, mod);
  Block b;
  b.layer = l;
  b.module = mod;
  b.unit_params = rc.unit_params(l, mod);
  b.fixed_params = mod == kAttention ? rc.groups[size_t(l)].fixed_params : 0;
  b.n_units = n;
  b.min_removed = std::min(n, int(std::ceil(rc.opt.s_min * n - 1e-9)));
  b.max_removed = std::max(b.min_removed, int(std::floor(rc.opt.s_max * n + 1e-9)));
  if (rc.recipe.flap_threshold) b.min_removed = 0, b.max_removed = n;
  b.cost.assign(size_t(n) + 1, 0.0);
  return b;
}

// Layer weights with the first `k` groups of `order` removed from one module and its consumer refit
// (as pass 2 would, on pass 1's statistics): the perturbation whose output effect is measured.
LayerWeights without_groups(RunContext& rc, int layer, int module, const LayerWeights& w,
                            const std::vector<int32_t>& order, int k, StatsCollector& col) {
  ModuleEdit e;
  e.kept = kept_units(keep_mask(rc.units(layer, module), order, k));
  const std::vector<int32_t> cols =
      module == kAttention ? kept_q_rows(attention_layout(rc.cfg, layer, rc.opt.attention), e.kept) : e.kept;
  if (rc.recipe.reconstruct && !cols.empty()) {
    ChannelStats& s = col.at(kConsumerIn[module]);
    RefitStats ri;
    ri.toward_weights = rc.recipe.toward_weights;
    ri.gram = &s.gram;
    ri.cross = &s.gram;
    e.consumer =
        refit_columns(rc.ctx, consumer_weight(w, module), Tensor(), ri, cols, rc.opt.damping, where(layer, module)).w;
  }
  return module == kAttention ? prune_attention(rc.ctx, rc.cfg, rc.opt.attention, w, e) : prune_mlp(rc.ctx, w, e);
}

}  // namespace

// normalize kl: a probe (the first calibration windows) follows the dense model; for every block, a
// copy follows the model with that block's uniform share removed, from its layer on. Each curve then
// keeps its shape (the module's own error) and takes its level from the measured effect at the
// output: cost(share) = mean KL per probe token.
class KlProbes {
 public:
  KlProbes(RunContext& rc, const RankWindows& win, model::Residence states)
      : rc_(rc), win_(win), probe_(rc.model, rc.ctx, win.probe.ids, win.probe.windows, win.probe.seqlen, 1, states) {}
  // The copies of earlier blocks through layer l.
  void forward_copies(int l, const LayerWeights& w) {
    rc_.clock.timed("pass1.kl_probes", [&] {
      for (auto& p : copies_) p.forward(l, w);
    });
  }
  // A copy for block bi from layer l on, with weights `perturbed` at layer l; `cost` is the block's
  // curve at its share.
  void add(int bi, int share, double cost, int l, const std::function<LayerWeights()>& perturbed) {
    share_.push_back(share);
    cost_.push_back(cost);
    block_.push_back(bi);
    rc_.clock.timed("pass1.kl_probes", [&] {
      copies_.push_back(probe_.clone());
      copies_.back().forward(l, perturbed());
    });
  }
  void advance(int l, const LayerWeights& w) {
    rc_.clock.timed("pass1.kl_probes", [&] { probe_.forward(l, w); });
  }
  void calibrate(std::vector<Block>& blocks) {
    const double tokens = double(win_.probe_total) * double(probe_.seqlen());
    std::vector<const HiddenStream*> copies;
    for (const HiddenStream& p : copies_) copies.push_back(&p);
    const auto window_kl = rc_.clock.timed("pass1.kl_logits", [&] { return probe_.window_kl(copies); });
    for (size_t i = 0; i < copies_.size(); ++i) {
      Block& b = blocks[size_t(block_[i])];
      const double kl_sum = sum_over_windows(rc_.comm, window_kl[i], win_.probe_first, win_.probe_total);
      const double d = std::max(kl_sum / tokens, 1e-12);
      const double c = cost_[i];
      const double scale = c > 0 ? d / c : 0.0;
      for (double& v : b.cost) v *= scale;
      if (c <= 0)  // a block whose share costs nothing locally: linear in the measured effect
        for (size_t k = 0; k < b.cost.size(); ++k) b.cost[k] = d * double(k) / double(share_[i]);
      SP_LOG_DEBUG("{}: KL {:.4g} per token with {} of {} groups removed", where(b.layer, b.module), d, share_[i],
                   b.n_units);
    }
  }

 private:
  RunContext& rc_;
  const RankWindows& win_;
  HiddenStream probe_;
  std::vector<HiddenStream> copies_;
  std::vector<int> block_, share_;  // per copy: its block, the groups it removes
  std::vector<double> cost_;        // per copy: the block's local curve at that share
};

Blocks make_blocks(const RunContext& rc) {
  Blocks bs;
  for (auto& b : bs.index) b.assign(size_t(rc.cfg.n_layers), -1);
  int64_t total = 0, lo = 0, hi = 0;
  for (int l = 0; l < rc.cfg.n_layers; ++l)
    for (int mod : kModules)
      if (rc.units(l, mod) > 0) {
        bs.index[mod][size_t(l)] = int(bs.blocks.size());
        bs.blocks.push_back(make_block(rc, l, mod));
        bs.z.emplace_back();
        const Block& b = bs.blocks.back();
        total += b.budget_params();
        lo += b.min_removed * b.unit_params;
        hi += b.max_removed * b.unit_params;
      }
  const PruneOptions& opt = rc.opt;
  const int64_t budget = std::llround(opt.sparsity * double(total));
  SP_REQUIRE(budget >= lo && budget <= hi,
             "prune.sparsity = {} asks to remove {} of {} prunable parameters, but prune.s_min / prune.s_max = {} / {} "
             "per layer and module in whole groups allow only {} to {} (sparsity {:.4f} to {:.4f})",
             opt.sparsity, budget, total, opt.s_min, opt.s_max, lo, hi,
             double(lo) / double(std::max<int64_t>(1, total)), double(hi) / double(std::max<int64_t>(1, total)));
  return bs;
}

RemovalCurves::RemovalCurves(RunContext& rc, Blocks& blocks, const RankWindows& win, model::Residence states)
    : rc_(rc), blocks_(blocks), curves_(rc.recipe.allocation != AllocationMode::Uniform) {
  if (curves_ && rc.recipe.normalize == Normalization::Kl) kl_ = std::make_unique<KlProbes>(rc, win, states);
}

RemovalCurves::~RemovalCurves() = default;

StatsCollector RemovalCurves::statistics(int l, const LayerWeights& w, HiddenStream& calib) {
  StatsCollector col(rc_.ctx, rc_.opt.gram_fp64);
  for (int mod : kModules)
    if (curves_ && rc_.units(l, mod) > 0) want_module_stats(rc_, col, mod, false, true);
  const model::Tap tap = col.tap();
  rc_.clock.forwards("pass1", &col, [&] { calib.forward(l, w, &tap); });
  col.reduce(rc_.comm, tap_widths(w, rc_.cfg.hidden), fmt::format("layer {}", l));
  fail_point(rc_.comm.rank(), "pass1", l);  // test hook: between this reduction and the next collective
  rc_.clock["pass1.statistics"] += col.seconds();
  return col;
}

void RemovalCurves::add_layer(int l, const LayerWeights& w, StatsCollector& col) {
  if (kl_) kl_->forward_copies(l, w);
  for (int mod : kModules)
    if (curves_ && rc_.units(l, mod) > 0) add_block(l, mod, w, col);
  if (kl_) kl_->advance(l, w);
}

void RemovalCurves::add_block(int l, int mod, const LayerWeights& w, StatsCollector& col) {
  const int n = rc_.units(l, mod);
  const int bi = blocks_.index[mod][size_t(l)];
  Block& b = blocks_.blocks[size_t(bi)];
  const Recipe& recipe = rc_.recipe;
  const Choice c = rc_.clock.timed("pass1.curves", [&] {
    return choose(rc_, "pass1", l, mod, w, col, recipe.flap_threshold ? n : b.max_removed, false);
  });
  double scale = 1.0;
  if (recipe.normalize == Normalization::Residual) {
    scale = col.at(kResidualOut[mod]).energy();
  } else if (recipe.normalize == Normalization::Output) {
    const Tensor wc = ops::convert(rc_.ctx, consumer_weight(w, mod), DType::F64);
    scale = frobenius_dot(ops::matmul(rc_.ctx, wc, false, col.at(kConsumerIn[mod]).gram, false), wc);
  }
  SP_REQUIRE(std::isfinite(scale) && scale > 0, "{}: normaliser {} is not a positive finite number", where(l, mod),
             scale);
  // A block the allocation may not cut into (one KV group and s_max < 1, as Gemma 3 1B's single KV
  // head) has no greedy order and needs no probe: its curve is the zero-cost point alone.
  if (kl_ && !c.order.empty()) {
    const int share = std::clamp(int(std::lround(rc_.opt.sparsity * n)), 1,
                                 std::min(std::max(1, b.max_removed), int(c.order.size())));
    const double cost = c.cost[size_t(std::min<size_t>(size_t(share), c.cost.size() - 1))];
    kl_->add(bi, share, cost, l, [&] { return without_groups(rc_, l, mod, w, c.order, share, col); });
  }
  for (size_t k = 0; k < c.cost.size(); ++k) b.cost[k] = c.cost[k] / scale;
  // Past max_removed the greedy stopped: continue with the last increment (never taken).
  const double last = c.cost.size() > 1 ? b.cost[c.cost.size() - 1] - b.cost[c.cost.size() - 2] : 0.0;
  for (size_t k = c.cost.size(); k < b.cost.size(); ++k) b.cost[k] = b.cost[k - 1] + last;
  if (recipe.flap_threshold) {
    const std::vector<double> unit_z =
        flap_unit_zscores(consumer_channel_scores(recipe.metric, consumer_weight(w, mod), col.at(kConsumerIn[mod])),
                          consumer_groups(rc_, l, mod));
    std::vector<double>& z = blocks_.z[size_t(bi)];
    for (int32_t g : c.order) z.push_back(unit_z[size_t(g)]);  // the block's removal order
  }
}

void RemovalCurves::finish() {
  if (kl_) kl_->calibrate(blocks_.blocks);
}

}  // namespace sp::prune
