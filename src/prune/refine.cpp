#include "prune/refine.h"

#include <algorithm>
#include <cmath>
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

// Groups per step of each block: one group of the largest size (an attention unit) in parameters,
// so that an exchange between any two blocks keeps the budget to within one MLP group.
struct Steps {
  std::vector<int> groups;  // per block
  int64_t largest = 0;      // parameters of the largest group
};

Steps make_steps(const std::vector<Block>& blocks, int round_to) {
  Steps st;
  for (const Block& b : blocks) st.largest = std::max(st.largest, b.unit_params);
  for (const Block& b : blocks) {
    int d = std::max(1, int(std::lround(double(st.largest) / double(b.unit_params))));
    if (b.module == kMlp && round_to > 1) d = std::max(1, d / round_to) * round_to;
    st.groups.push_back(d);
  }
  return st;
}

// One layer as a measurement pass left it, kept for the search and for pass 2's replay.
struct Stored {
  LayerWeights centre;
  std::vector<LayerWeights> variants[2];  // per module, as Variant::index says
  LayerResult result;
  bool added_bias[2] = {false, false};
};

// What a measurement pass found at one allocation.
struct Measurement {
  std::vector<int> removed;       // the allocation measured
  std::vector<Variant> variants;  // the one-block moves followed
  std::vector<Kl> kl;             // [0]: the allocation, then one per variant
  std::vector<Stored> layers;     // per layer, in host memory

  void drop_variants() {
    variants.clear();
    for (Stored& s : layers) s.variants[0].clear(), s.variants[1].clear();
  }

  // The stored layer of block b at `level`, one step from the measured one.
  const LayerWeights& variant(int layer, int module, int b, int level) const {
    for (const Variant& v : variants)
      if (v.block == b && v.level == level) return layers[size_t(layer)].variants[module][size_t(v.index)];
    SP_CHECK(false, "refine: no variant of {} at {} groups", where(layer, module), level);
    return layers[size_t(layer)].centre;
  }
};

// Exchanges that keep the budget, ordered by predicted gain, from the one-block measurements.
std::vector<Exchange> propose(const std::vector<Block>& blocks, const Steps& st, const Allocation& a,
                              const Measurement& m) {
  struct Option {
    int block;
    double rate;  // KL per parameter: saved (restore) or added (remove)
    double delta, se;
    int64_t params;
  };
  std::vector<Option> restores, removes;
  for (size_t i = 0; i < m.variants.size(); ++i) {
    const Variant& v = m.variants[i];
    const size_t b = size_t(v.block);
    const int64_t params = int64_t(st.groups[b]) * blocks[b].unit_params;
    const Difference d = paired(m.kl[1 + i], m.kl[0]);
    if (v.level < a.removed[b])
      restores.push_back({v.block, -d.mean / double(params), -d.mean, d.se, params});
    else
      removes.push_back({v.block, d.mean / double(params), d.mean, d.se, params});
  }
  std::stable_sort(restores.begin(), restores.end(), [](const Option& x, const Option& y) { return x.rate > y.rate; });
  std::stable_sort(removes.begin(), removes.end(), [](const Option& x, const Option& y) { return x.rate < y.rate; });
  const int64_t band = std::max<int64_t>(std::llabs(a.removed_params - a.budget), st.largest / 2);
  int64_t offset = a.removed_params - a.budget;
  std::vector<uint8_t> used(blocks.size(), 0);
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

// The allocation with the first m exchanges applied.
std::vector<int> apply(std::vector<int> removed, const Steps& st, const std::vector<Exchange>& moves, int m) {
  for (int i = 0; i < m; ++i) {
    removed[size_t(moves[size_t(i)].restore)] -= st.groups[size_t(moves[size_t(i)].restore)];
    removed[size_t(moves[size_t(i)].remove)] += st.groups[size_t(moves[size_t(i)].remove)];
  }
  return removed;
}

// The KL divergence to the dense model on the held-out windows: of the model pruned at an
// allocation and its one-block moves (a measurement pass), or of candidates assembled from a
// measurement's stored layers.
class HeldOutKl {
 public:
  HeldOutKl(RunContext& rc, const RunSetup& in, const RankWindows& win, const Blocks& blocks, ModulePruner& pruner)
      : rc_(rc), in_(in), win_(win), blocks_(blocks), pruner_(pruner) {}

  // The measurement pass at allocation a, with each block also one step either side (within bounds)
  // when `moves` (the last round's pass only verifies: it follows no one-block move).
  Measurement measure(const Allocation& a, const Steps& st, bool moves) {
    const double t0 = wall_seconds();
    const std::vector<Block>& blocks = blocks_.blocks;
    Measurement m;
    m.removed = a.removed;
    m.layers.resize(size_t(rc_.cfg.n_layers));
    VariantRequest req;
    req.levels.resize(blocks.size());
    std::vector<int> per_module(2 * size_t(rc_.cfg.n_layers), 0);
    for (size_t b = 0; moves && b < blocks.size(); ++b) {
      const Block& bl = blocks[b];
      for (int level : {a.removed[b] - st.groups[b], a.removed[b] + st.groups[b]})
        if (level >= bl.min_removed && level <= bl.max_removed) {
          int& idx = per_module[2 * size_t(bl.layer) + size_t(bl.module)];
          req.levels[b].push_back(level);
          m.variants.push_back({int(b), level, bl.module, idx++});
        }
    }
    const bool first = !dense_;
    if (first) dense_.emplace(stream());
    HiddenStream centre = stream();
    std::vector<HiddenStream> copies;
    std::vector<size_t> copy_variant;  // the variant each copy follows, in creation order
    req.sink = [&](LayerVariants&& v) {
      const int l = v.layer;
      rc_.clock.timed("refine.probes", [&] {
        if (first) dense_->forward(l, v.dense);
        for (HiddenStream& c : copies) c.forward(l, v.run);
        for (size_t i = 0; i < m.variants.size(); ++i) {
          const Variant& var = m.variants[i];
          if (blocks[size_t(var.block)].layer != l) continue;
          copies.push_back(centre.clone());
          copies.back().forward(l, runnable(rc_, v.variants[var.module][size_t(var.index)]));
          copy_variant.push_back(i);
        }
        centre.forward(l, v.run);
      });
      // Kept for the search and the replay in host memory (on a GPU too): the centre whole, each
      // variant as its module's tensors only (the rest is the centre's), about three pruned models.
      rc_.clock.timed("refine.store", [&] {
        Stored& s = m.layers[size_t(l)];
        s.centre = on_device(std::move(v.centre), Device::cpu());
        s.result = std::move(v.result);
        s.added_bias[0] = v.added_bias[0];
        s.added_bias[1] = v.added_bias[1];
        for (int mod : kModules)
          for (const LayerWeights& w : v.variants[mod])
            s.variants[mod].push_back(on_device(with_module_of(LayerWeights{}, w, mod), Device::cpu()));
      });
    };
    PrunePass(rc_, in_, win_, blocks_, pruner_, nullptr).measure(a, req);
    std::vector<const HiddenStream*> streams{&centre};
    for (const HiddenStream& c : copies) streams.push_back(&c);
    std::vector<Kl> kl = window_kl(streams);
    m.kl.resize(1 + m.variants.size());
    m.kl[0] = std::move(kl[0]);
    for (size_t i = 0; i < copies.size(); ++i) m.kl[1 + copy_variant[i]] = std::move(kl[1 + i]);
    rc_.clock["refine.measure"] += wall_seconds() - t0;
    return m;
  }

  // The KL of each candidate allocation (each block at its measured level or one step off),
  // assembled from m's stored layers.
  std::vector<Kl> evaluate(const Measurement& m, const std::vector<std::vector<int>>& levels) {
    const double t0 = wall_seconds();
    std::vector<HiddenStream> streams;
    for (size_t c = 0; c < levels.size(); ++c) streams.push_back(stream());
    for (int l = 0; l < rc_.cfg.n_layers; ++l) {
      const Stored& s = m.layers[size_t(l)];
      for (size_t c = 0; c < levels.size(); ++c) {
        LayerWeights w = s.centre;
        for (int mod : kModules) {
          const int b = blocks_.index[mod][size_t(l)];
          if (b >= 0 && levels[c][size_t(b)] != m.removed[size_t(b)])
            w = with_module_of(w, m.variant(l, mod, b, levels[c][size_t(b)]), mod);
        }
        streams[c].forward(l, runnable(rc_, on_device(std::move(w), rc_.ctx.device())));
      }
    }
    std::vector<const HiddenStream*> ptrs;
    for (const HiddenStream& s : streams) ptrs.push_back(&s);
    std::vector<Kl> kl = window_kl(ptrs);
    rc_.clock["refine.search"] += wall_seconds() - t0;
    return kl;
  }

 private:
  model::HiddenStream stream() const {
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

  RunContext& rc_;
  const RunSetup& in_;
  const RankWindows& win_;
  const Blocks& blocks_;
  ModulePruner& pruner_;
  std::optional<HiddenStream> dense_;  // the dense model's held-out streams, after the last layer
};

// Rounds of propose-and-search, each followed by the true-sequential measurement that verifies
// it: a candidate becomes the allocation only if its measured KL is lower than the best one so far
// by more than the standard error of the paired per-window differences. `best` receives the
// measurement of the allocation returned (its layers are what pass 2 replays).
Allocation search(RunContext& rc, HeldOutKl& held_out, const std::vector<Block>& blocks, const Allocation& start,
                  RefineReport& report, Measurement& best) {
  const Steps st = make_steps(blocks, rc.opt.round_to);
  auto removed_params = [&](const std::vector<int>& removed) {
    int64_t s = 0;
    for (size_t b = 0; b < blocks.size(); ++b) s += int64_t(removed[b]) * blocks[b].unit_params;
    return s;
  };
  Allocation a = start, best_a = start;
  for (int round = 0; round <= rc.opt.refine_rounds; ++round) {
    RefineRound rr;
    Measurement m = held_out.measure(a, st, round < rc.opt.refine_rounds);
    rr.kl = m.kl[0].mean();
    if (round > 0) {
      const Difference d = paired(best.kl[0], m.kl[0]);
      if (!(d.mean > d.se)) {
        rr.reverted = true;
        report.rounds.push_back(rr);
        SP_LOG_INFO("refine: the search's allocation measures KL {:.5g}, not clearly below {:.5g}: kept that one",
                    rr.kl, best.kl[0].mean());
        break;
      }
      SP_LOG_INFO("refine: the search's allocation measures KL {:.5g} (was {:.5g}): taken", rr.kl, best.kl[0].mean());
    }
    best_a = a;
    best = std::move(m);
    if (round == rc.opt.refine_rounds) {  // the last measurement verifies; nothing more is proposed
      report.rounds.push_back(rr);
      break;
    }
    const std::vector<Exchange> moves = propose(blocks, st, a, best);
    rr.moves = int(moves.size());
    if (moves.empty()) {
      SP_LOG_INFO("refine round {}: KL {:.5g}; no exchange predicted to gain beyond the noise", round + 1, rr.kl);
      report.rounds.push_back(rr);
      break;
    }
    std::vector<int> sizes;
    for (int n = int(moves.size()); n >= 1; n = (n == 1 ? 0 : (n + 1) / 2)) sizes.push_back(n);
    std::vector<std::vector<int>> levels;
    for (int n : sizes) levels.push_back(apply(a.removed, st, moves, n));
    const std::vector<Kl> ckl = held_out.evaluate(best, levels);
    best.drop_variants();  // what stays is the replay's: host memory for the next round's measurement
    // The candidate of lowest KL, if it is lower than the allocation's by more than one standard
    // error of the paired per-window differences (else the gain may be the windows' own noise).
    size_t pick = ckl.size();
    for (size_t i = 0; i < ckl.size(); ++i) {
      rr.candidates.emplace_back(sizes[i], ckl[i].mean());
      if (pick == ckl.size() || ckl[i].mean() < ckl[pick].mean()) pick = i;
    }
    if (pick < ckl.size()) {
      const Difference d = paired(best.kl[0], ckl[pick]);
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
  return best_a;
}

}  // namespace

Allocation refine_allocation(RunContext& rc, const RunSetup& in, const RankWindows& win, const Blocks& blocks,
                             ModulePruner& pruner, const Allocation& start, RefineReport& report,
                             std::vector<LayerRecord>& layers) {
  SP_REQUIRE(win.refine_total >= 1, "prune.refine_rounds: no held-out window to measure the allocation on");
  const double t0 = wall_seconds();
  report.windows = win.refine_total;
  report.seqlen = win.refine.seqlen;
  report.start_removed = start.removed;
  HeldOutKl held_out(rc, in, win, blocks, pruner);
  Measurement best;
  Allocation a = search(rc, held_out, blocks.blocks, start, report, best);
  report.removed = a.removed;
  layers.clear();
  for (const Stored& s : best.layers) layers.push_back({s.result, s.centre, {s.added_bias[0], s.added_bias[1]}, {}});
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
