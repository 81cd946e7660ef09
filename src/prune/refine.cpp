#include "prune/refine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "core/error.h"
#include "core/log.h"
#include "prune/prune_pass.h"

namespace sp::prune {

using model::HiddenStream;
using model::LayerWeights;

namespace {

// A one-block move the measurement pass follows: block b at `level` groups removed.
struct Variant {
  int block = 0, level = 0;
  int module = 0, index = 0;  // its layer's variants[module][index]
};

// An exchange: one step given back to `restore`, one step taken from `remove`.
struct Exchange {
  int restore = 0, remove = 0;
  double predicted = 0;  // KL saved minus KL added, per the one-block measurements
  double se = 0;         // its standard error over the windows
};

// A model's KL divergence to the dense model per held-out window (mean over its tokens).
struct Kl {
  std::vector<double> window;
  double mean() const {
    double s = 0;
    for (double v : window) s += v;
    return window.empty() ? 0.0 : s / double(window.size());
  }
};

// Mean and standard error of the paired differences a - b over the windows: what a change of the
// model does to the KL beyond the windows' own spread.
struct Difference {
  double mean = 0, se = 0;
};
Difference paired(const Kl& a, const Kl& b) {
  const size_t n = a.window.size();
  Difference d;
  if (n == 0) return d;
  for (size_t w = 0; w < n; ++w) d.mean += a.window[w] - b.window[w];
  d.mean /= double(n);
  if (n < 2) return d;
  double ss = 0;
  for (size_t w = 0; w < n; ++w) ss += (a.window[w] - b.window[w] - d.mean) * (a.window[w] - b.window[w] - d.mean);
  d.se = std::sqrt(ss / double(n - 1) / double(n));
  return d;
}

LayerWeights on_device(LayerWeights w, Device d) {
  for (model::Role role : model::kLayerRoles)
    if (w.at(role).defined() && w.at(role).device() != d) w.at(role) = w.at(role).to(d);
  return w;
}

class Refiner {
 public:
  Refiner(RunContext& rc, const RunSetup& in, const RankWindows& win, const Blocks& blocks, ModulePruner& pruner)
      : rc_(rc), in_(in), win_(win), blocks_(blocks.blocks), all_(blocks), pruner_(pruner) {
    const int64_t q = std::max_element(blocks_.begin(), blocks_.end(), [](const Block& a, const Block& b) {
                        return a.unit_params < b.unit_params;
                      })->unit_params;
    for (const Block& b : blocks_) {
      int d = std::max(1, int(std::lround(double(q) / double(b.unit_params))));
      if (b.module == kMlp && rc.opt.round_to > 1) d = std::max(1, d / rc.opt.round_to) * rc.opt.round_to;
      step_.push_back(d);
    }
    max_unit_ = q;
  }

  // Rounds of propose-and-search, each followed by the true-sequential measurement that verifies
  // it: a candidate becomes the allocation only if its measured KL is lower than the best one so far
  // by more than the standard error of the paired per-window differences.
  Allocation run(const Allocation& start, RefineReport& report) {
    report.windows = win_.refine_total;
    report.seqlen = win_.refine.seqlen;
    report.start_removed = start.removed;
    Allocation a = start, best = start;
    Kl best_kl;
    for (int round = 0; round <= rc_.opt.refine_rounds; ++round) {
      RefineRound rr;
      const std::vector<Kl> kl = measure(a);  // [0]: the allocation, then one per variant
      rr.kl = kl[0].mean();
      if (round > 0) {
        const Difference d = paired(best_kl, kl[0]);
        if (!(d.mean > d.se)) {
          rr.reverted = true;
          report.rounds.push_back(rr);
          SP_LOG_INFO("refine: the search's allocation measures KL {:.5g}, not clearly below {:.5g}: kept that one",
                      rr.kl, best_kl.mean());
          break;
        }
      }
      if (round > 0)
        SP_LOG_INFO("refine: the search's allocation measures KL {:.5g} (was {:.5g}): taken", rr.kl, best_kl.mean());
      best = a;
      best_kl = kl[0];
      best_layers_ = layers_;  // what pass 2 would write at `best` (shared tensors, no copy)
      if (round == rc_.opt.refine_rounds) {  // the last measurement verifies; nothing more is proposed
        report.rounds.push_back(rr);
        break;
      }
      const std::vector<Exchange> moves = propose(a, kl);
      rr.moves = int(moves.size());
      if (moves.empty()) {
        SP_LOG_INFO("refine round {}: KL {:.5g}; no exchange predicted to gain beyond the noise", round + 1, rr.kl);
        report.rounds.push_back(rr);
        break;
      }
      std::vector<int> sizes;
      for (int m = int(moves.size()); m >= 1; m = (m == 1 ? 0 : (m + 1) / 2)) sizes.push_back(m);
      std::vector<std::vector<int>> levels;
      for (int m : sizes) levels.push_back(apply(a.removed, moves, m));
      const std::vector<Kl> ckl = evaluate(levels);
      // The candidate of lowest KL, if it is lower than the allocation's by more than one standard
      // error of the paired per-window differences (else the gain may be the windows' own noise).
      size_t pick = ckl.size();
      for (size_t i = 0; i < ckl.size(); ++i) {
        rr.candidates.emplace_back(sizes[i], ckl[i].mean());
        if (pick == ckl.size() || ckl[i].mean() < ckl[pick].mean()) pick = i;
      }
      if (pick < ckl.size()) {
        const Difference d = paired(kl[0], ckl[pick]);
        if (!(d.mean > d.se)) pick = ckl.size();
      }
      SP_LOG_INFO("refine round {}: KL {:.5g}; {} exchange(s) proposed; best candidate {}", round + 1, rr.kl,
                  moves.size(),
                  pick < ckl.size() ? fmt::format("{} exchange(s), KL {:.5g}", sizes[pick], ckl[pick].mean())
                                    : std::string("none clearly below"));
      report.rounds.push_back(rr);
      if (pick == ckl.size()) break;
      report.rounds.back().taken = sizes[pick];
      a.removed = levels[pick];
      a.removed_params = removed_params(a.removed);
    }
    report.removed = best.removed;
    return best;
  }

 private:
  int64_t removed_params(const std::vector<int>& removed) const {
    int64_t s = 0;
    for (size_t b = 0; b < blocks_.size(); ++b) s += int64_t(removed[b]) * blocks_[b].unit_params;
    return s;
  }

  HiddenStream refine_stream() const {
    return HiddenStream(rc_.model, rc_.ctx, win_.refine.ids, win_.refine.windows, win_.refine.seqlen, in_.batch,
                        in_.states);
  }

  // Each stream's KL to the dense one per held-out window (mean over its tokens), every rank's windows.
  std::vector<Kl> window_kl(const std::vector<const HiddenStream*>& streams) {
    const auto local = rc_.clock.timed("refine.kl_logits", [&] { return dense_->window_kl(streams); });
    std::vector<Kl> out;
    for (const auto& w : local) {
      Kl k{all_windows(rc_.comm, w, win_.refine_first, win_.refine_total)};
      for (double& v : k.window) v /= double(win_.refine.seqlen);
      out.push_back(std::move(k));
    }
    return out;
  }

  // The measurement pass at allocation a: the KL of a, then of each one-block move (variants_).
  std::vector<Kl> measure(const Allocation& a) {
    const double t0 = wall_seconds();
    VariantRequest req;
    measured_ = a.removed;
    variants_.clear();
    layers_.assign(size_t(rc_.cfg.n_layers), {});
    req.levels.resize(blocks_.size());
    std::vector<int> per_module_count(2 * size_t(rc_.cfg.n_layers), 0);
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const Block& bl = blocks_[b];
      for (int level : {a.removed[b] - step_[b], a.removed[b] + step_[b]})
        if (level >= bl.min_removed && level <= bl.max_removed) {
          int& idx = per_module_count[2 * size_t(bl.layer) + size_t(bl.module)];
          req.levels[b].push_back(level);
          variants_.push_back({int(b), level, bl.module, idx++});
        }
    }
    const bool first = !dense_;
    if (first) dense_.emplace(refine_stream());
    HiddenStream centre = refine_stream();
    std::vector<HiddenStream> copies;
    std::vector<size_t> copy_variant;  // the variants_ entry of each copy, in creation order
    PrunePass pass(rc_, in_, win_, all_, pruner_, nullptr);
    req.sink = [&](LayerVariants&& v) {
      const int l = v.layer;
      rc_.clock.timed("refine.probes", [&] {
        if (first) dense_->forward(l, v.dense);
        const LayerWeights run = runnable(rc_, v.centre);
        for (HiddenStream& c : copies) c.forward(l, run);
        for (size_t i = 0; i < variants_.size(); ++i) {
          const Block& bl = blocks_[size_t(variants_[i].block)];
          if (bl.layer != l) continue;
          copies.push_back(centre.clone());
          copies.back().forward(l, runnable(rc_, v.variants[variants_[i].module][size_t(variants_[i].index)]));
          copy_variant.push_back(i);
        }
        centre.forward(l, run);
      });
      // Kept for the search, in host memory on a GPU (a model's worth of pruned layers and variants).
      const Device host = Device::cpu();
      Stored& s = layers_[size_t(l)];
      s.centre = on_device(std::move(v.centre), host);
      s.result = std::move(v.result);
      s.added_bias[0] = v.added_bias[0];
      s.added_bias[1] = v.added_bias[1];
      for (int mod : kModules)
        for (LayerWeights& w : v.variants[mod]) s.variants[mod].push_back(on_device(std::move(w), host));
    };
    pass.measure(a, req);
    std::vector<const HiddenStream*> streams{&centre};
    for (const HiddenStream& c : copies) streams.push_back(&c);
    std::vector<Kl> kl_streams = window_kl(streams);
    std::vector<Kl> kl(1 + variants_.size());
    kl[0] = std::move(kl_streams[0]);
    for (size_t i = 0; i < copies.size(); ++i) kl[1 + copy_variant[i]] = std::move(kl_streams[1 + i]);
    rc_.clock["refine.measure"] += wall_seconds() - t0;
    return kl;
  }

  // Exchanges that keep the budget, ordered by predicted gain, from the one-block measurements.
  std::vector<Exchange> propose(const Allocation& a, const std::vector<Kl>& kl) const {
    struct Option {
      int block;
      double rate;  // KL per parameter: saved (restore) or added (remove)
      double delta, se;
      int64_t params;
    };
    std::vector<Option> restores, removes;
    for (size_t i = 0; i < variants_.size(); ++i) {
      const Variant& v = variants_[i];
      const size_t b = size_t(v.block);
      const int64_t params = int64_t(step_[b]) * blocks_[b].unit_params;
      const Difference d = paired(kl[1 + i], kl[0]);
      if (v.level < a.removed[b])
        restores.push_back({v.block, -d.mean / double(params), -d.mean, d.se, params});
      else
        removes.push_back({v.block, d.mean / double(params), d.mean, d.se, params});
    }
    std::stable_sort(restores.begin(), restores.end(), [](const Option& x, const Option& y) { return x.rate > y.rate; });
    std::stable_sort(removes.begin(), removes.end(), [](const Option& x, const Option& y) { return x.rate < y.rate; });
    const int64_t budget = a.budget;
    const int64_t band = std::max<int64_t>(std::llabs(a.removed_params - budget), max_unit_ / 2);
    int64_t offset = a.removed_params - budget;
    std::vector<uint8_t> used(blocks_.size(), 0);
    std::vector<Exchange> moves;
    size_t j = 0;
    for (const Option& r : restores) {
      if (used[size_t(r.block)]) continue;
      while (j < removes.size() && used[size_t(removes[j].block)]) ++j;
      if (j == removes.size() || !(r.rate > removes[j].rate)) break;
      const Option& s = removes[j];
      if (s.block == r.block) continue;
      const int64_t net = s.params - r.params;
      if (std::llabs(offset + net) > band) continue;
      // Only an exchange whose predicted gain exceeds its standard error (the two measurements'
      // errors combined as independent): the rest may be the windows' noise.
      const double ratio = double(r.params) / double(s.params);
      const Exchange e{r.block, s.block, r.delta - s.delta * ratio, std::hypot(r.se, s.se * ratio)};
      if (!(e.predicted > e.se)) continue;
      offset += net;
      used[size_t(r.block)] = used[size_t(s.block)] = 1;
      moves.push_back(e);
      ++j;
    }
    std::stable_sort(moves.begin(), moves.end(),
                     [](const Exchange& x, const Exchange& y) { return x.predicted > y.predicted; });
    return moves;
  }

  std::vector<int> apply(std::vector<int> removed, const std::vector<Exchange>& moves, int m) const {
    for (int i = 0; i < m; ++i) {
      removed[size_t(moves[size_t(i)].restore)] -= step_[size_t(moves[size_t(i)].restore)];
      removed[size_t(moves[size_t(i)].remove)] += step_[size_t(moves[size_t(i)].remove)];
    }
    return removed;
  }

  // The stored layer of block b at `level` (the centre when it is the measured allocation's).
  const LayerWeights* variant(int layer, int module, int b, int level) const {
    for (const Variant& v : variants_)
      if (v.block == b && v.level == level) return &layers_[size_t(layer)].variants[module][size_t(v.index)];
    SP_CHECK(false, "refine: no variant of {} at {} groups", where(layer, module), level);
    return nullptr;
  }

  // The KL of each candidate allocation (each block at its measured level or one step off),
  // assembled from the stored layers.
  std::vector<Kl> evaluate(const std::vector<std::vector<int>>& levels) {
    const double t0 = wall_seconds();
    const std::vector<int>& centre = measured_;
    std::vector<HiddenStream> streams;
    for (size_t c = 0; c < levels.size(); ++c) streams.push_back(refine_stream());
    const Device dev = rc_.ctx.device();
    for (int l = 0; l < rc_.cfg.n_layers; ++l) {
      const Stored& s = layers_[size_t(l)];
      for (size_t c = 0; c < levels.size(); ++c) {
        LayerWeights w = s.centre;
        for (int mod : kModules) {
          const int b = all_.index[mod][size_t(l)];
          if (b >= 0 && levels[c][size_t(b)] != centre[size_t(b)])
            w = with_module_of(w, *variant(l, mod, b, levels[c][size_t(b)]), mod);
        }
        streams[c].forward(l, runnable(rc_, on_device(std::move(w), dev)));
      }
    }
    std::vector<const HiddenStream*> ptrs;
    for (const HiddenStream& s : streams) ptrs.push_back(&s);
    std::vector<Kl> kl = window_kl(ptrs);
    rc_.clock["refine.search"] += wall_seconds() - t0;
    return kl;
  }

  struct Stored {
    LayerWeights centre;
    std::vector<LayerWeights> variants[2];
    LayerResult result;
    bool added_bias[2] = {false, false};
  };

 public:
  // The layers pass 2 would write at the refined allocation, as the measurement pass pruned them.
  std::vector<LayerRecord> records() const {
    std::vector<LayerRecord> out;
    for (const Stored& s : best_layers_) out.push_back({s.result, s.centre, {s.added_bias[0], s.added_bias[1]}, {}});
    return out;
  }

 private:

  RunContext& rc_;
  const RunSetup& in_;
  const RankWindows& win_;
  const std::vector<Block>& blocks_;
  const Blocks& all_;
  ModulePruner& pruner_;
  std::vector<int> step_;  // per block: groups per step
  int64_t max_unit_ = 0;
  std::optional<HiddenStream> dense_;  // the dense model's held-out streams, after the last layer
  std::vector<Variant> variants_;      // of the last measurement pass
  std::vector<Stored> layers_;         // per layer, of the last measurement pass
  std::vector<Stored> best_layers_;    // per layer, of the measurement pass of the allocation returned
  std::vector<int> measured_;          // the allocation the last measurement pass pruned at
};

}  // namespace

Allocation refine_allocation(RunContext& rc, const RunSetup& in, const RankWindows& win, const Blocks& blocks,
                             ModulePruner& pruner, const Allocation& start, RefineReport& report,
                             std::vector<LayerRecord>& layers) {
  SP_REQUIRE(win.refine_total >= 1, "prune.refine_rounds: no held-out window to measure the allocation on");
  const double t0 = wall_seconds();
  Refiner r(rc, in, win, blocks, pruner);
  Allocation a = r.run(start, report);
  layers = r.records();
  rc.clock["refine"] += wall_seconds() - t0;
  return a;
}

namespace {

// Serves every pass-2 layer from the refinement's records (brought to the context's device) and
// passes pass 1 and each replayed layer (after the sink took it) on to the run's journal, if any, so
// that a resume finds them.
class ReplayStore : public ProgressStore {
 public:
  ReplayStore(std::vector<LayerRecord> layers, ProgressStore* journal)
      : layers_(std::move(layers)), journal_(journal) {}
  const std::optional<Pass1Record>& pass1() const override { return journal_ ? journal_->pass1() : none_; }
  int layers_done() const override { return int(layers_.size()); }
  LayerRecord layer(int l, ExecContext& ctx) const override {
    LayerRecord r = layers_[size_t(l)];
    r.weights = on_device(std::move(r.weights), ctx.device());
    return r;
  }
  void save_pass1(const Pass1Record& p) override {
    if (journal_) journal_->save_pass1(p);
  }
  bool saves_replayed(int l) const override { return journal_ && l >= journal_->layers_done(); }
  void save_layer(const LayerRecord& r) override {
    if (journal_) journal_->save_layer(r);
  }
  void flush() override {
    if (journal_) journal_->flush();
  }
  std::string path() const override { return journal_ ? journal_->path() : std::string("(refinement)"); }

 private:
  std::vector<LayerRecord> layers_;
  ProgressStore* journal_;
  std::optional<Pass1Record> none_;
};

}  // namespace

std::unique_ptr<ProgressStore> replay_store(std::vector<LayerRecord> layers, ProgressStore* journal) {
  return std::make_unique<ReplayStore>(std::move(layers), journal);
}

}  // namespace sp::prune
