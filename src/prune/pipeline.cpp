#include "prune/pipeline.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "core/fail_point.h"
#include "core/log.h"
#include "core/ranges.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"
#include "model/hidden_stream.h"
#include "prune/compact.h"
#include "prune/journal.h"
#include "prune/obs.h"
#include "prune/statistics.h"

namespace sp::prune {
namespace {

using model::HiddenStream;
using model::LayerWeights;
using model::Role;

constexpr int kAttention = 0, kMlp = 1;
const char* const kModuleName[] = {"attention", "mlp"};
const char* const kConsumerIn[] = {"attn_o_in", "mlp_down_in"};
const char* const kProducerIn[] = {"attn_in", "mlp_in"};
const char* const kResidualOut[] = {"mid_resid", "layer_out"};

std::string where(int layer, int module) { return fmt::format("layer {} {}", layer, kModuleName[module]); }

// Channel counts of the forward's taps for layer weights w (a rank without windows still takes
// part in the statistics' reduction and must know their sizes).
std::map<std::string, int64_t> tap_widths(const LayerWeights& w, int64_t hidden) {
  std::map<std::string, int64_t> m = {
      {"attn_in", hidden}, {"mlp_in", hidden}, {"mid_resid", hidden}, {"layer_out", hidden}};
  if (w.o_w.defined()) m["attn_o_in"] = w.o_w.dim(1);
  if (w.down_w.defined()) m["mlp_down_in"] = w.down_w.dim(1);
  return m;
}

// The tensors of a layer's attention block: a stream halfway through the layer has applied them.
constexpr Role kAttentionRoles[] = {Role::AttnNormWeight,    Role::AttnNormBias, Role::QWeight,     Role::QBias,
                                    Role::KWeight,           Role::KBias,        Role::VWeight,     Role::VBias,
                                    Role::OWeight,           Role::OBias,        Role::QNormWeight, Role::KNormWeight,
                                    Role::AttnPostNormWeight};

bool same_tensor(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  return a.raw() == b.raw() && a.dtype() == b.dtype() && a.shape() == b.shape();
}

// Adds the wall time of f() to seconds[key] (the per-phase split of report.json), the device
// synchronised on both sides so that queued kernels are charged to the phase that issued them.
template <class F>
auto timed(ExecContext& ctx, std::map<std::string, double>& seconds, const std::string& key, F&& f) {
  ctx.synchronize();
  const double t0 = wall_seconds();
  struct Charge {
    ExecContext& ctx;
    double& acc;
    double t0;
    ~Charge() {
      try {
        ctx.synchronize();
      } catch (...) {  // f() threw: its own error is the one to report
      }
      acc += wall_seconds() - t0;
    }
  } charge{ctx, seconds[key], t0};
  return f();
}

// This rank's share of a set of windows: whole batches (the same batches for any rank count).
TokenWindows local_share(const TokenWindows& all, int batch, const Communicator& comm) {
  const auto [first, count] = batch_aligned_range(all.windows, batch, comm.rank(), comm.size());
  TokenWindows t{all.name, {}, count, all.seqlen};
  t.ids.assign(all.ids.begin() + int64_t(first) * all.seqlen, all.ids.begin() + int64_t(first + count) * all.seqlen);
  return t;
}

// Per-window values of this rank's windows [first, first + local.size()) summed over ranks in
// window order: the same bits for any rank count (each slot has one non-zero term).
double sum_over_windows(Communicator& comm, const std::vector<double>& local, int first, int total) {
  std::vector<double> all(size_t(total), 0.0);
  std::copy(local.begin(), local.end(), all.begin() + first);
  comm.allreduce_sum(std::span<double>(all));
  double s = 0.0;
  for (double v : all) s += v;
  return s;
}

// A module's removal order and scores, chosen from its statistics.
struct Choice {
  std::vector<int32_t> order;  // removal order, at least `k` long
  std::vector<double> cost;    // removal curve along `order` (cost[0] = 0)
  std::vector<double> scores;  // per group, the score it was ranked by
};

class Pipeline {
 public:
  Pipeline(model::Model& m, ExecContext& ctx, Communicator& comm, const PruneOptions& opt, const PipelineInputs& in,
           const LayerSink& sink, Journal* journal)
      : m_(m),
        ctx_(ctx),
        comm_(comm),
        opt_(opt),
        recipe_(resolve_recipe(opt)),
        in_(in),
        sink_(sink),
        journal_(journal),
        cfg_(m.config()) {}

  PruneResult run();

 private:
  const Tensor& consumer_weight(const LayerWeights& w, int module) const { return module ? w.down_w : w.o_w; }
  int units(int layer, int module) const {
    return module == kAttention ? groups_[size_t(layer)].attention_units : groups_[size_t(layer)].mlp_units;
  }
  int64_t unit_params(int layer, int module) const {
    return module == kAttention ? groups_[size_t(layer)].params_per_attention_unit
                                : groups_[size_t(layer)].params_per_mlp_unit;
  }
  std::vector<std::vector<int32_t>> consumer_groups(int layer, int module) const;
  bool need_gram() const {
    return recipe_.metric == ScoreMetric::Obs || recipe_.reconstruct || recipe_.normalize == Normalization::Output;
  }
  int obs_step(int n) const { return opt_.obs_step > 0 ? opt_.obs_step : std::max(1, (n + 255) / 256); }

  void want_module_stats(StatsCollector& col, int module, bool cross, bool residual) const;
  Choice choose(int layer, int module, const LayerWeights& w, StatsCollector& col, int max_removed, bool dense_target);
  Block make_block(int layer, int module) const;
  LayerWeights without_groups(int layer, int module, const LayerWeights& w, const std::vector<int32_t>& order, int k,
                              StatsCollector& col);
  void pass1();
  void allocate();
  void pass2();
  int journalled_layers() const;
  void collect(int layer, const char* name, const LayerWeights& w, const LayerWeights& dense_w, HiddenStream& calib,
               HiddenStream* dense, StatsCollector& col);
  LayerWeights refit_producers(int layer, int module, const LayerWeights& w, const LayerWeights& dense_w,
                               HiddenStream& calib, HiddenStream& dense);
  LayerWeights prune_module(int layer, int module, const LayerWeights& w, const LayerWeights& dense_w,
                            HiddenStream& calib, HiddenStream* dense, int k, LayerResult& r);
  // The dense layer cut to r's keep masks, no refit: what the producers of the pruned layer are when
  // they were not refit (the journal leaves those out and a replay derives them here).
  LayerWeights selected_layer(const LayerWeights& dense_w, const LayerResult& r) const;
  // Whether w's attention block is the one the pruned model runs (unchanged by the round trip
  // through the output dtype that the layer's final forward takes).
  bool attention_as_written(const LayerWeights& w) const {
    return std::all_of(std::begin(kAttentionRoles), std::end(kAttentionRoles), [&](Role r) {
      return !w.at(r).defined() || (w.at(r).dtype() == in_.output_dtype && in_.output_dtype == m_.dtype());
    });
  }
  // Whether the consumer of `module` can be given a bias that Hugging Face loads (LLaMA's
  // attention_bias / mlp_bias; OPT always has one).
  bool can_add_bias(int module) const {
    return (module == kAttention ? m_.config().o_bias : m_.config().mlp_bias) || cfg_.model_type == "llama";
  }
  Tensor compensated_bias(int layer, int module, const LayerWeights& w, const std::vector<uint8_t>& keep,
                          const ChannelStats& s);
  std::vector<PerplexityRow> evaluate(std::vector<HiddenStream>& streams) const;
  HiddenStream stream(const TokenWindows& local) const {
    return HiddenStream(m_, ctx_, local.ids, local.windows, local.seqlen, in_.batch, in_.states);
  }
  // The calibration and evaluation windows of this rank, and its share of the KL probe windows
  // (the first probe_windows calibration windows, one per forward call, split by window).
  void share_windows();

  model::Model& m_;
  ExecContext& ctx_;
  Communicator& comm_;
  const PruneOptions& opt_;
  Recipe recipe_;
  const PipelineInputs& in_;
  const LayerSink& sink_;
  Journal* journal_;
  io::ModelConfig cfg_;
  std::vector<LayerGroups> groups_;
  std::vector<Block> blocks_;           // pass 1's curves, one per pruned (layer, module)
  std::vector<std::vector<double>> z_;  // FLAP: standardised group scores per block
  std::vector<int> block_of_[2];        // block index per layer and module, -1 when not pruned
  PruneResult result_;
  TokenWindows calib_;               // this rank's calibration windows
  std::vector<TokenWindows> evals_;  // this rank's evaluation windows, per dataset
  std::vector<int> eval_first_;      // index of this rank's first window, per dataset
  TokenWindows probe_;               // this rank's probe windows
  int probe_first_ = 0, probe_total_ = 0;
  double eval_seconds_ = 0;
  const char* phase_ = "pass1";  // the phase whose seconds the OBS curves add to
  // Runs the calibration streams' forwards f() as `phase_`.forward, less the statistics that col's
  // taps gathered meanwhile (those count as `phase_`.statistics).
  template <class F>
  void forwards(const StatsCollector* col, F&& f) {
    const double s0 = col ? col->seconds() : 0.0;
    const std::string key = fmt::format("{}.forward", phase_);
    timed(ctx_, result_.seconds, key, f);
    if (col) result_.seconds[key] -= col->seconds() - s0;
  }
  bool added_bias_[2] = {false, false};
  bool warned_bias_ = false;
};

std::vector<std::vector<int32_t>> Pipeline::consumer_groups(int layer, int module) const {
  if (module == kAttention) return attention_layout(cfg_, layer, opt_.attention).q_rows;
  std::vector<std::vector<int32_t>> g(size_t(units(layer, kMlp)));
  for (size_t j = 0; j < g.size(); ++j) g[j] = {int32_t(j)};
  return g;
}

void Pipeline::want_module_stats(StatsCollector& col, int module, bool cross, bool residual) const {
  col.want(kConsumerIn[module], need_gram(), cross);
  if (recipe_.metric == ScoreMetric::Wanda) col.want(kProducerIn[module]);
  if (residual && recipe_.normalize == Normalization::Residual) col.want(kResidualOut[module]);
}

Choice Pipeline::choose(int layer, int module, const LayerWeights& w, StatsCollector& col, int max_removed,
                        bool dense_target) {
  Choice c;
  const std::string what = where(layer, module);
  if (recipe_.metric == ScoreMetric::Obs) {
    ChannelStats& s = col.at(kConsumerIn[module]);
    const std::string key = fmt::format("{}.obs_{}", phase_, kModuleName[module]);
    Tensor hinv = timed(ctx_, result_.seconds, key + "_inverse", [&] {
      return ops::cholesky_inverse(ctx_, damped_cholesky(ctx_, s.gram, opt_.damping, what).l);
    });
    const Tensor& wc = consumer_weight(w, module);
    Tensor target;
    if (dense_target) {
      std::vector<int32_t> all(size_t(wc.dim(1)));
      std::iota(all.begin(), all.end(), 0);
      RefitInputs ri;
      ri.toward_weights = recipe_.toward_weights;
      ri.gram = &s.gram;
      ri.cross = &s.cross;
      target = refit_columns(ctx_, wc, Tensor(), ri, all, opt_.damping, what).w;
    } else {
      target = ops::convert(ctx_, wc, DType::F64);
    }
    RemovalCurve rc = timed(ctx_, result_.seconds, key + "_greedy", [&] {
      return obs_greedy(ctx_, std::move(target), std::move(hinv), consumer_groups(layer, module), max_removed,
                        obs_step(units(layer, module)));
    });
    c.order = std::move(rc.order);
    c.cost = std::move(rc.cost);
    c.scores = std::move(rc.saliency);
    return c;
  }
  ModuleInputs mi;
  mi.consumer_in = &col.at(kConsumerIn[module]);
  if (recipe_.metric == ScoreMetric::Wanda) mi.producer_in = &col.at(kProducerIn[module]);
  c.scores = module == kAttention
                 ? attention_scores(recipe_.metric, w, attention_layout(cfg_, layer, opt_.attention), mi)
                 : mlp_scores(recipe_.metric, w, mi);
  c.order.resize(c.scores.size());
  std::iota(c.order.begin(), c.order.end(), 0);
  std::stable_sort(c.order.begin(), c.order.end(),
                   [&](int32_t a, int32_t b) { return c.scores[size_t(a)] < c.scores[size_t(b)]; });
  c.cost.assign(1, 0.0);
  for (int32_t g : c.order) c.cost.push_back(c.cost.back() + c.scores[size_t(g)]);
  return c;
}

// A (layer, module) block: its groups' size and the bounds from s_min / s_max; flat curve.
Block Pipeline::make_block(int l, int mod) const {
  const int n = units(l, mod);
  Block b;
  b.layer = l;
  b.module = mod;
  b.unit_params = unit_params(l, mod);
  b.n_units = n;
  b.min_removed = std::min(n, int(std::ceil(opt_.s_min * n - 1e-9)));
  b.max_removed = std::max(b.min_removed, int(std::floor(opt_.s_max * n + 1e-9)));
  if (recipe_.flap_threshold) b.min_removed = 0, b.max_removed = n;
  b.cost.assign(size_t(n) + 1, 0.0);
  return b;
}

// Layer weights with the first `k` groups of `order` removed from one module and its consumer refit
// (as pass 2 would, on pass 1's statistics): the perturbation whose output effect is measured.
LayerWeights Pipeline::without_groups(int layer, int module, const LayerWeights& w, const std::vector<int32_t>& order,
                                      int k, StatsCollector& col) {
  const int n = units(layer, module);
  std::vector<uint8_t> keep(size_t(n), 1);
  for (int i = 0; i < k; ++i) keep[size_t(order[size_t(i)])] = 0;
  ModuleEdit e;
  for (int u = 0; u < n; ++u)
    if (keep[size_t(u)]) e.kept.push_back(u);
  const std::vector<int32_t> cols =
      module == kAttention ? kept_q_rows(attention_layout(cfg_, layer, opt_.attention), e.kept) : e.kept;
  if (recipe_.reconstruct && !cols.empty()) {
    ChannelStats& s = col.at(kConsumerIn[module]);
    RefitInputs ri;
    ri.toward_weights = recipe_.toward_weights;
    ri.gram = &s.gram;
    ri.cross = &s.gram;
    e.consumer =
        refit_columns(ctx_, consumer_weight(w, module), Tensor(), ri, cols, opt_.damping, where(layer, module)).w;
  }
  return module == kAttention ? prune_attention(ctx_, cfg_, opt_.attention, w, e) : prune_mlp(ctx_, w, e);
}

// Pass 1: the dense model's statistics, one curve per (layer, module); perplexity before.
void Pipeline::pass1() {
  const double t0 = wall_seconds();
  const bool curves = recipe_.allocation != AllocationMode::Uniform;
  if (!curves && !in_.eval_before) return;  // uniform needs no curves
  HiddenStream calib = stream(calib_);
  std::vector<HiddenStream> evals;
  if (in_.eval_before)
    for (const auto& e : evals_) evals.push_back(stream(e));
  // normalize kl: a probe (the first calibration windows) follows the dense model; for every block,
  // a copy follows the model with that block's uniform share removed, from its layer on.
  const bool kl = curves && recipe_.normalize == Normalization::Kl;
  std::optional<HiddenStream> probe;
  if (kl) probe.emplace(m_, ctx_, probe_.ids, probe_.windows, probe_.seqlen, 1);
  std::vector<HiddenStream> perturbed;
  std::vector<int> perturbed_block, probe_share(blocks_.size(), 0);
  std::vector<double> share_cost(blocks_.size(), 0.0);
  Progress progress("pass 1 (statistics)", long(cfg_.n_layers));
  for (int l = 0; l < cfg_.n_layers; ++l) {
    const LayerWeights w = timed(ctx_, result_.seconds, "pass1.load", [&] { return m_.load_layer(ctx_, l); });
    StatsCollector col(ctx_, opt_.gram_fp64);
    for (int mod : {kAttention, kMlp})
      if (curves && units(l, mod) > 0) want_module_stats(col, mod, false, true);
    const model::Tap tap = col.tap();
    forwards(&col, [&] { calib.forward(l, w, &tap); });
    col.reduce(comm_, tap_widths(w, cfg_.hidden), fmt::format("layer {}", l));
    fail_point(comm_.rank(), "pass1", l);  // test hook: between this reduction and the next collective
    result_.seconds["pass1.statistics"] += col.seconds();
    const double te = wall_seconds();
    for (auto& e : evals) e.forward(l, w);
    eval_seconds_ += wall_seconds() - te;
    timed(ctx_, result_.seconds, "pass1.kl_probes", [&] {
      for (auto& p : perturbed) p.forward(l, w);
    });
    for (int mod : {kAttention, kMlp}) {
      const int n = units(l, mod);
      if (n == 0 || !curves) continue;
      Block& b = blocks_[size_t(block_of_[mod][size_t(l)])];
      std::vector<double>& z = z_[size_t(block_of_[mod][size_t(l)])];
      {
        const Choice c = timed(ctx_, result_.seconds, "pass1.curves", [&] {
          return choose(l, mod, w, col, recipe_.flap_threshold ? n : b.max_removed, false);
        });
        double scale = 1.0;
        if (recipe_.normalize == Normalization::Residual) {
          scale = col.at(kResidualOut[mod]).energy();
        } else if (recipe_.normalize == Normalization::Output) {
          const Tensor wc = ops::convert(ctx_, consumer_weight(w, mod), DType::F64);
          scale = frobenius_dot(ops::matmul(ctx_, wc, false, col.at(kConsumerIn[mod]).gram, false), wc);
        }
        SP_REQUIRE(std::isfinite(scale) && scale > 0, "{}: normaliser {} is not a positive finite number",
                   where(l, mod), scale);
        // A block the allocation may not cut into (one KV group and s_max < 1, as Gemma 3 1B's single
        // KV head) has no greedy order and needs no probe: its curve is the zero-cost point alone.
        if (kl && !c.order.empty()) {
          const int bi = block_of_[mod][size_t(l)];
          const int share = std::clamp(int(std::lround(opt_.sparsity * n)), 1,
                                       std::min(std::max(1, b.max_removed), int(c.order.size())));
          probe_share[size_t(bi)] = share;
          share_cost[size_t(bi)] = c.cost[size_t(std::min<size_t>(size_t(share), c.cost.size() - 1))];
          timed(ctx_, result_.seconds, "pass1.kl_probes", [&] {
            perturbed.push_back(probe->clone());
            perturbed.back().forward(l, without_groups(l, mod, w, c.order, share, col));
          });
          perturbed_block.push_back(bi);
        }
        for (size_t k = 0; k < c.cost.size(); ++k) b.cost[k] = c.cost[k] / scale;
        // Past max_removed the greedy stopped: continue with the last increment (never taken).
        const double last = c.cost.size() > 1 ? b.cost[c.cost.size() - 1] - b.cost[c.cost.size() - 2] : 0.0;
        for (size_t k = c.cost.size(); k < b.cost.size(); ++k) b.cost[k] = b.cost[k - 1] + last;
        if (recipe_.flap_threshold) {
          const std::vector<double> unit_z = flap_unit_zscores(
              consumer_channel_scores(recipe_.metric, consumer_weight(w, mod), col.at(kConsumerIn[mod])),
              consumer_groups(l, mod));
          for (int32_t g : c.order) z.push_back(unit_z[size_t(g)]);  // the block's removal order
        }
      }
    }
    if (kl) timed(ctx_, result_.seconds, "pass1.kl_probes", [&] { probe->forward(l, w); });
    progress.step(long(l + 1));
  }
  progress.finish();
  if (kl) {
    // Each curve keeps its shape (the module's own error) and takes its level from the measured
    // effect at the output: cost(share) = mean KL per probe token.
    const double tokens = double(probe_total_) * double(probe->seqlen());
    std::vector<const HiddenStream*> copies;
    for (const HiddenStream& p : perturbed) copies.push_back(&p);
    const auto window_kl = timed(ctx_, result_.seconds, "pass1.kl_logits", [&] { return probe->window_kl(copies); });
    for (size_t i = 0; i < perturbed.size(); ++i) {
      const int bi = perturbed_block[i];
      Block& b = blocks_[size_t(bi)];
      const double kl_sum = sum_over_windows(comm_, window_kl[i], probe_first_, probe_total_);
      const double d = std::max(kl_sum / tokens, 1e-12);
      const double c = share_cost[size_t(bi)];
      const double scale = c > 0 ? d / c : 0.0;
      for (double& v : b.cost) v *= scale;
      if (c <= 0)  // a block whose share costs nothing locally: linear in the measured effect
        for (size_t k = 0; k < b.cost.size(); ++k) b.cost[k] = d * double(k) / double(probe_share[size_t(bi)]);
      SP_LOG_DEBUG("{}: KL {:.4g} per token with {} of {} groups removed", where(b.layer, b.module), d,
                   probe_share[size_t(bi)], b.n_units);
    }
  }
  if (in_.eval_before) result_.before = evaluate(evals);
  result_.seconds["pass1"] = wall_seconds() - t0;
}

// FLAP's rule: one global cut on the standardised scores, each group counted as one unit whatever
// its size; removes the lowest groups while the removed parameters get nearer the budget.
Allocation flap_allocation(const std::vector<Block>& blocks, const std::vector<std::vector<double>>& z,
                           double sparsity) {
  Allocation a;
  struct Entry {
    double z;
    int block, pos;
  };
  std::vector<Entry> all;
  for (size_t b = 0; b < blocks.size(); ++b) {
    a.total_params += blocks[b].params();
    for (size_t p = 0; p < z[b].size(); ++p) all.push_back({z[b][p], int(b), int(p)});
  }
  std::stable_sort(all.begin(), all.end(), [](const Entry& x, const Entry& y) { return x.z < y.z; });
  a.budget = std::llround(sparsity * double(a.total_params));
  a.removed.assign(blocks.size(), 0);
  for (const Entry& e : all) {
    const int64_t p = blocks[size_t(e.block)].unit_params;
    if (std::llabs(a.removed_params + p - a.budget) >= std::llabs(a.removed_params - a.budget)) break;
    a.removed_params += p;
    a.removed[size_t(e.block)] += 1;
    a.lambda = e.z;
  }
  return a;
}

void Pipeline::allocate() {
  const double t0 = wall_seconds();
  if (recipe_.flap_threshold) {
    result_.allocation = flap_allocation(blocks_, z_, opt_.sparsity);
  } else {
    AllocationOptions ao;
    ao.mode = recipe_.allocation;
    ao.sparsity = opt_.sparsity;
    ao.temperature = opt_.temperature;
    ao.rho = opt_.rho;
    ao.max_iters = opt_.admm_max_iters;
    ao.tol_primal = opt_.admm_tol_primal;
    ao.tol_dual = opt_.admm_tol_dual;
    ao.round_to = opt_.round_to;
    ao.uniform_shape = opt_.uniform_shape;
    // Each rank takes part with the blocks of the layers it owns (a contiguous range): the ADMM's
    // local steps run where the blocks live and only scalars cross (allocation.h); every rank has
    // every curve here, so the split only spreads the work.
    const auto [first, count] = balanced_ranges(cfg_.n_layers, comm_.size())[size_t(comm_.rank())];
    std::vector<Block> mine;
    std::vector<size_t> index;
    for (size_t i = 0; i < blocks_.size(); ++i)
      if (blocks_[i].layer >= first && blocks_[i].layer < first + count) {
        mine.push_back(blocks_[i]);
        index.push_back(i);
      }
    Allocation a = prune::allocate(mine, ao, comm_);
    std::vector<int64_t> removed(blocks_.size(), 0);
    for (size_t i = 0; i < index.size(); ++i) removed[index[i]] = a.removed[i];
    comm_.allreduce_sum(std::span<int64_t>(removed));
    a.removed.assign(removed.begin(), removed.end());
    result_.allocation = std::move(a);
    if (!result_.allocation.converged)
      SP_LOG_WARN(
          "ADMM stopped after {} iterations without meeting the tolerances (primal {:.2e}, dual {:.2e}); the "
          "final budget is still met exactly",
          result_.allocation.iterations, result_.allocation.primal_residual, result_.allocation.dual_residual);
  }
  const Allocation& a = result_.allocation;
  SP_LOG_INFO("allocation ({}): remove {} of {} prunable parameters (target {}), lambda {:.4g}, {} iteration(s)",
              recipe_.summary(), a.removed_params, a.total_params, a.budget, a.lambda, a.iterations);
  result_.seconds["allocation"] = wall_seconds() - t0;
}

// Pass 2, one module: statistics of the consumer's inputs on the pruned model (with the dense
// model's activations of the same windows when the refit targets them), the k cheapest groups
// removed, the consumer refit (and its bias compensated), the module's weights compacted.
// Streams every calibration batch through layer `layer` up to the tap `name` with weights w,
// collecting `col`; with a dense stream, the dense model's activations at `name` for the same
// windows pair with them (cross-Gram).
void Pipeline::collect(int layer, const char* name, const LayerWeights& w, const LayerWeights& dense_w,
                       HiddenStream& calib, HiddenStream* dense, StatsCollector& col) {
  ActivationRecorder rec({name});
  const model::Tap ctap = col.tap(), rtap = rec.tap();
  forwards(&col, [&] {
    for (int b = 0; b < calib.batches(); ++b) {
      if (dense) {
        dense->forward_batch(b, layer, dense_w, &rtap, false, name);
        col.set_reference(name, rec.recorded().at(name));
      }
      calib.forward_batch(b, layer, w, &ctap, false, name);
    }
  });
  col.reduce(comm_, tap_widths(w, cfg_.hidden), fmt::format("layer {}", layer));
  result_.seconds["pass2.statistics"] += col.seconds();
}

// The module's producers (q/k/v, gate/up, fc1) refit on the pruned model's inputs towards the
// dense model's pre-activations: P' = P C (H + delta I)^-1, which undoes the drift of the inputs
// that earlier pruning caused before this module's groups are scored.
LayerWeights Pipeline::refit_producers(int layer, int module, const LayerWeights& w, const LayerWeights& dense_w,
                                       HiddenStream& calib, HiddenStream& dense) {
  StatsCollector col(ctx_, opt_.gram_fp64);
  col.want(kProducerIn[module], true, true);
  collect(layer, kProducerIn[module], w, dense_w, calib, &dense, col);
  ChannelStats& s = col.at(kProducerIn[module]);
  std::vector<int32_t> all(size_t(cfg_.hidden));
  std::iota(all.begin(), all.end(), 0);
  LayerWeights out = w;
  const std::string what = where(layer, module) + " producers";
  using WB = std::pair<Tensor*, Tensor*>;
  for (auto [p, b] : module == kAttention
                         ? std::vector<WB>{{&out.q_w, &out.q_b}, {&out.k_w, &out.k_b}, {&out.v_w, &out.v_b}}
                         : std::vector<WB>{{&out.gate_w, &out.gate_b}, {&out.up_w, &out.up_b}}) {
    if (!p->defined()) continue;
    RefitInputs ri;
    ri.toward_weights = recipe_.toward_weights;
    ri.gram = &s.gram;
    ri.cross = &s.cross;
    if (b->defined() && recipe_.intercept) ri.sum = &s.sum, ri.ref_sum = &s.ref_sum, ri.tokens = s.tokens;
    const Refit rf = timed(ctx_, result_.seconds, "pass2.refit",
                           // init-captures: clang before 16 cannot capture structured bindings
                           [&, p = p, b = b] { return refit_columns(ctx_, *p, *b, ri, all, opt_.damping, what); });
    *p = ops::convert(ctx_, rf.w, p->dtype());
    if (b->defined()) *b = ops::convert(ctx_, rf.bias, b->dtype());
  }
  return out;
}

LayerWeights Pipeline::prune_module(int layer, int module, const LayerWeights& w_in, const LayerWeights& dense_w,
                                    HiddenStream& calib, HiddenStream* dense, int k, LayerResult& r) {
  const LayerWeights w =
      dense && recipe_.refit_producers ? refit_producers(layer, module, w_in, dense_w, calib, *dense) : w_in;
  const bool dense_target = dense && recipe_.target == RefitTarget::Dense;
  if (!dense_target) dense = nullptr;
  StatsCollector col(ctx_, opt_.gram_fp64);
  want_module_stats(col, module, dense_target, false);
  collect(layer, kConsumerIn[module], w, dense_w, calib, dense, col);
  const Choice c =
      timed(ctx_, result_.seconds, "pass2.scores", [&] { return choose(layer, module, w, col, k, dense_target); });
  const int n = units(layer, module);
  std::vector<uint8_t> keep(size_t(n), 1);
  for (int i = 0; i < k; ++i) keep[size_t(c.order[size_t(i)])] = 0;
  ModuleEdit e;
  for (int u = 0; u < n; ++u)
    if (keep[size_t(u)]) e.kept.push_back(u);
  const AttentionLayout layout =
      module == kAttention ? attention_layout(cfg_, layer, opt_.attention) : AttentionLayout{};
  const std::vector<int32_t> cols = module == kAttention ? kept_q_rows(layout, e.kept) : e.kept;
  ChannelStats& s = col.at(kConsumerIn[module]);
  const Tensor& wc = consumer_weight(w, module);
  const Tensor& old_bias = module == kAttention ? w.o_b : w.down_b;
  // An intercept when the consumer has a bias, or may get one (bias compensation): the removed
  // channels' mean contribution then moves into the bias as part of the least-squares fit.
  const bool intercept =
      recipe_.intercept && (old_bias.defined() || (recipe_.bias_compensation && can_add_bias(module)));
  if (recipe_.reconstruct && (k > 0 || dense_target || intercept) && !cols.empty()) {
    RefitInputs ri;
    ri.toward_weights = recipe_.toward_weights;
    ri.gram = &s.gram;
    ri.cross = dense_target ? &s.cross : &s.gram;
    if (intercept) ri.sum = &s.sum, ri.ref_sum = dense_target ? &s.ref_sum : &s.sum, ri.tokens = s.tokens;
    Refit rf = timed(ctx_, result_.seconds, "pass2.refit",
                     [&] { return refit_columns(ctx_, wc, old_bias, ri, cols, opt_.damping, where(layer, module)); });
    e.consumer = std::move(rf.w);
    if (intercept) {
      e.consumer_bias = std::move(rf.bias);
      added_bias_[module] = added_bias_[module] || !old_bias.defined();
    }
  } else if (recipe_.bias_compensation) {
    e.consumer_bias = compensated_bias(layer, module, w, keep, s);
  }
  (module == kAttention ? r.attention_keep : r.mlp_keep) = keep;
  (module == kAttention ? r.attention_scores : r.mlp_scores) = c.scores;
  r.removed_params += int64_t(k) * unit_params(layer, module);
  LayerWeights out = timed(ctx_, result_.seconds, "pass2.edit", [&] {
    return module == kAttention ? prune_attention(ctx_, cfg_, opt_.attention, w, e) : prune_mlp(ctx_, w, e);
  });
  // attention_bias / mlp_bias in LLaMA's config give every projection of the block a bias.
  if (e.consumer_bias.defined() && module == kAttention && out.q_w.defined() && !out.q_b.defined()) {
    out.q_b = Tensor::zeros({out.q_w.dim(0)}, out.q_w.dtype(), ctx_.device());
    out.k_b = Tensor::zeros({out.k_w.dim(0)}, out.k_w.dtype(), ctx_.device());
    out.v_b = Tensor::zeros({out.v_w.dim(0)}, out.v_w.dtype(), ctx_.device());
  }
  if (e.consumer_bias.defined() && module == kMlp && out.gate_w.defined() && !out.gate_b.defined()) {
    out.gate_b = Tensor::zeros({out.gate_w.dim(0)}, out.gate_w.dtype(), ctx_.device());
    out.up_b = Tensor::zeros({out.up_w.dim(0)}, out.up_w.dtype(), ctx_.device());
  }
  return out;
}

// FLAP's bias compensation: the removed channels' mean contribution moves into the consumer's
// bias, b' = b + W_{:,R} mean(X_R). Undefined when the architecture cannot carry the bias.
Tensor Pipeline::compensated_bias(int layer, int module, const LayerWeights& w, const std::vector<uint8_t>& keep,
                                  const ChannelStats& s) {
  const Tensor& old = module == kAttention ? w.o_b : w.down_b;
  if (!old.defined() && !can_add_bias(module)) {
    if (!warned_bias_)
      SP_LOG_WARN("bias compensation: model_type {} has no {} bias that Hugging Face can load; skipped",
                  cfg_.model_type, kModuleName[module]);
    warned_bias_ = true;
    return Tensor();
  }
  const Tensor& wc = consumer_weight(w, module);
  const std::vector<double> wv = wc.to_f64_vector(), mean = s.mean();
  std::vector<double> b = old.defined() ? old.to_f64_vector() : std::vector<double>(size_t(wc.dim(0)), 0.0);
  const AttentionLayout layout =
      module == kAttention ? attention_layout(cfg_, layer, opt_.attention) : AttentionLayout{};
  const int64_t ncol = wc.dim(1);
  for (size_t u = 0; u < keep.size(); ++u) {
    if (keep[u]) continue;
    const std::vector<int32_t> cols = module == kAttention ? layout.q_rows[u] : std::vector<int32_t>{int32_t(u)};
    for (int32_t j : cols)
      for (size_t i = 0; i < b.size(); ++i) b[i] += wv[i * size_t(ncol) + size_t(j)] * mean[size_t(j)];
  }
  added_bias_[module] = added_bias_[module] || !old.defined();
  std::vector<float> bf(b.begin(), b.end());
  return Tensor::from_f32(bf, {int64_t(bf.size())}).to(ctx_.device());
}

LayerWeights Pipeline::selected_layer(const LayerWeights& dense_w, const LayerResult& r) const {
  LayerWeights w = dense_w;
  for (int mod : {kAttention, kMlp}) {
    const std::vector<uint8_t>& keep = mod == kAttention ? r.attention_keep : r.mlp_keep;
    if (keep.empty()) continue;  // a module that was not pruned
    ModuleEdit e;
    for (size_t u = 0; u < keep.size(); ++u)
      if (keep[u]) e.kept.push_back(int32_t(u));
    w = mod == kAttention ? prune_attention(ctx_, cfg_, opt_.attention, w, e) : prune_mlp(ctx_, w, e);
  }
  return w;
}

// Layers of pass 2 the journal holds (every rank read the same journal: commands_prune.cpp checks).
int Pipeline::journalled_layers() const { return journal_ ? journal_->layers_done() : 0; }

void Pipeline::pass2() {
  const double t0 = wall_seconds();
  phase_ = "pass2";
  HiddenStream calib = stream(calib_);
  std::optional<HiddenStream> dense;
  if (recipe_.reconstruct && (recipe_.target == RefitTarget::Dense || recipe_.refit_producers))
    dense.emplace(stream(calib_));
  std::vector<HiddenStream> evals;
  for (const auto& e : evals_) evals.push_back(stream(e));
  const int done = journalled_layers();
  Progress progress("pass 2 (prune + refit)", long(cfg_.n_layers));
  for (int l = 0; l < cfg_.n_layers; ++l) {
    LayerResult r;
    LayerWeights dense_w, out;
    std::optional<LayerWeights> mid_weights;  // the attention block the calibration stream has applied
    if (l < done) {                           // journalled: the recorded weights replay the layer, bit for bit
      LayerRecord rec = journal_->layer(l, ctx_);
      r = std::move(rec.result);
      out = std::move(rec.weights);
      for (int mod : {kAttention, kMlp}) added_bias_[mod] = added_bias_[mod] || rec.added_bias[mod];
      if (dense || !rec.derived.empty()) dense_w = m_.load_layer(ctx_, l);
      if (!rec.derived.empty()) {
        const LayerWeights sel = selected_layer(dense_w, r);
        for (Role role : rec.derived) out.at(role) = ops::convert(ctx_, sel.at(role), in_.output_dtype);
      }
    } else {
      fail_point(comm_.rank(), "pass2", l);
      dense_w = timed(ctx_, result_.seconds, "pass2.load", [&] { return m_.load_layer(ctx_, l); });
      r.layer = l;
      r.prunable_params = groups_[size_t(l)].prunable_params();
      LayerWeights w = dense_w;
      for (int mod : {kAttention, kMlp}) {
        const int b = block_of_[mod][size_t(l)];
        if (b < 0) continue;
        // The pruned attention block runs once per batch: the MLP's statistics and the layer's
        // final forward continue from the residual after it (else each recomputes it).
        if (mod == kMlp && attention_as_written(w)) {
          mid_weights = w;
          forwards(nullptr, [&] {
            for (int bi = 0; bi < calib.batches(); ++bi)
              calib.forward_batch(bi, l, w, nullptr, true, model::kMidResidual);
          });
        }
        // Likewise the dense reference: its attention block, the same for every forward, runs once.
        if (mod == kMlp && dense)
          forwards(nullptr, [&] {
            for (int bi = 0; bi < dense->batches(); ++bi)
              dense->forward_batch(bi, l, dense_w, nullptr, true, model::kMidResidual);
          });
        w = prune_module(l, mod, w, dense_w, calib, dense ? &*dense : nullptr, result_.allocation.removed[size_t(b)],
                         r);
      }
      // The pruned model runs on exactly the weights that are written (output dtype, then compute).
      out = timed(ctx_, result_.seconds, "pass2.edit", [&] { return convert_layer(ctx_, w, in_.output_dtype); });
      r.shape = out.shape;
    }
    // On a GPU the streams run the MLP zero-padded to whole GEMM tiles, as inference does: the same
    // outputs, at tensor-core speed whatever the kept width (the CPU's sums would merely reorder).
    const LayerWeights run = timed(ctx_, result_.seconds, "pass2.edit", [&] {
      return model::with_padded_mlp(ctx_, convert_layer(ctx_, out, m_.dtype()),
                                    ctx_.device().is_cuda() ? model::kInferenceMlpMultiple : 1);
    });
    if (mid_weights)
      for (Role role : kAttentionRoles)
        SP_CHECK(same_tensor(run.at(role), mid_weights->at(role)),
                 "layer {}: the stream continues from attention weights other than those written", l);
    forwards(nullptr, [&] {
      calib.forward(l, run);
      if (dense) dense->forward(l, dense_w);
    });
    const double te = wall_seconds();
    for (auto& e : evals) e.forward(l, run);
    eval_seconds_ += wall_seconds() - te;
    result_.pruned_config.layers[size_t(l)] = r.shape;
    timed(ctx_, result_.seconds, "pass2.outputs", [&] {
      sink_(r, out);
      if (journal_ && l >= done) {
        LayerRecord rec{r, out, {added_bias_[kAttention], added_bias_[kMlp]}, {}};
        // Producers that were not refit are a selection of the dense layer: a replay derives them
        // (selected_layer), so the journal holds about a third of the pruned layer.
        if (!recipe_.refit_producers)
          for (Role role : {Role::QWeight, Role::KWeight, Role::VWeight, Role::GateWeight, Role::UpWeight})
            if (rec.weights.at(role).defined()) rec.weights.at(role) = Tensor(), rec.derived.push_back(role);
        journal_->save_layer(rec);
      }
    });
    result_.layers.push_back(std::move(r));
    progress.step(long(l + 1));
  }
  progress.finish();
  if (journal_) journal_->flush();  // the last layer's files (a failed write turns the journal off)
  result_.after = evaluate(evals);
  result_.seconds["pass2"] = wall_seconds() - t0;
}

PruneResult Pipeline::run() {
  const double t0 = wall_seconds();
  SP_REQUIRE(in_.calibration.windows >= 1, "calibration: no window of {} tokens", in_.calibration.seqlen);
  for (int l = 0; l < cfg_.n_layers; ++l) groups_.push_back(layer_groups(cfg_, l, opt_.attention, opt_.mlp));
  for (auto& b : block_of_) b.assign(size_t(cfg_.n_layers), -1);
  result_.recipe = recipe_;
  result_.options = opt_;
  result_.pruned_config = cfg_;
  SP_LOG_INFO("prune: {}, sparsity {:.3f}, {} calibration windows of {} tokens", recipe_.summary(), opt_.sparsity,
              in_.calibration.windows, in_.calibration.seqlen);
  // The blocks and their bounds are known before any compute: an unreachable budget fails now.
  int64_t total = 0, lo = 0, hi = 0;
  for (int l = 0; l < cfg_.n_layers; ++l)
    for (int mod : {kAttention, kMlp})
      if (units(l, mod) > 0) {
        block_of_[mod][size_t(l)] = int(blocks_.size());
        blocks_.push_back(make_block(l, mod));
        z_.emplace_back();
        const Block& b = blocks_.back();
        total += b.params();
        lo += b.min_removed * b.unit_params;
        hi += b.max_removed * b.unit_params;
      }
  const int64_t budget = std::llround(opt_.sparsity * double(total));
  SP_REQUIRE(budget >= lo && budget <= hi,
             "prune.sparsity = {} asks to remove {} of {} prunable parameters, but prune.s_min / prune.s_max = {} / {} "
             "per layer and module in whole groups allow only {} to {} (sparsity {:.4f} to {:.4f})",
             opt_.sparsity, budget, total, opt_.s_min, opt_.s_max, lo, hi,
             double(lo) / double(std::max<int64_t>(1, total)), double(hi) / double(std::max<int64_t>(1, total)));
  share_windows();
  if (journal_ && journal_->pass1()) {
    const Pass1Record& p = *journal_->pass1();
    SP_REQUIRE(p.allocation.removed.size() == blocks_.size(), "{}: the allocation has {} blocks, this run {}",
               journal_->path(), p.allocation.removed.size(), blocks_.size());
    result_.allocation = p.allocation;
    result_.before = p.before;
    result_.seconds["pass1"] = p.pass1_seconds;
    result_.seconds["allocation"] = p.allocation_seconds;
    eval_seconds_ = p.eval_seconds;
    SP_LOG_INFO("pass 1 and the allocation: from the journal ({} parameters to remove)", p.allocation.removed_params);
  } else {
    pass1();
    fail_point(comm_.rank(), "allocation");
    allocate();
    if (journal_)
      journal_->save_pass1(
          {result_.allocation, result_.before, result_.seconds["pass1"], result_.seconds["allocation"], eval_seconds_});
  }
  pass2();
  for (const auto& l : result_.layers) {
    result_.prunable_params += l.prunable_params;
    result_.removed_params += l.removed_params;
  }
  io::ModelConfig& pc = result_.pruned_config;
  if (added_bias_[kAttention]) {
    pc.qkv_bias = pc.o_bias = true;
    pc.raw["attention_bias"] = true;
  }
  if (added_bias_[kMlp]) {
    pc.mlp_bias = true;
    pc.raw["mlp_bias"] = true;
  }
  result_.seconds["evaluation"] = eval_seconds_;
  result_.seconds["total"] = wall_seconds() - t0;
  return result_;
}

std::vector<PerplexityRow> Pipeline::evaluate(std::vector<HiddenStream>& streams) const {
  std::vector<PerplexityRow> rows;
  for (size_t i = 0; i < streams.size(); ++i) {
    PerplexityRow r;
    r.name = in_.eval[i].name;
    r.windows = in_.eval[i].windows;
    r.tokens = int64_t(r.windows) * (in_.eval[i].seqlen - 1);
    r.mean_nll =
        sum_over_windows(comm_, streams[i].window_nll(), eval_first_[i], in_.eval[i].windows) / double(r.tokens);
    r.ppl = std::exp(r.mean_nll);
    SP_REQUIRE(std::isfinite(r.ppl), "{}: perplexity is not finite (mean NLL {})", r.name, r.mean_nll);
    rows.push_back(r);
  }
  return rows;
}

void Pipeline::share_windows() {
  calib_ = local_share(in_.calibration, in_.batch, comm_);
  for (const auto& e : in_.eval) {
    evals_.push_back(local_share(e, in_.batch, comm_));
    eval_first_.push_back(batch_aligned_range(e.windows, in_.batch, comm_.rank(), comm_.size()).first);
  }
  probe_total_ = std::min(opt_.probe_windows, in_.calibration.windows);
  const TokenWindows head{
      "probe",
      {in_.calibration.ids.begin(), in_.calibration.ids.begin() + int64_t(probe_total_) * in_.calibration.seqlen},
      probe_total_,
      in_.calibration.seqlen};
  probe_ = local_share(head, 1, comm_);
  probe_first_ = batch_aligned_range(probe_total_, 1, comm_.rank(), comm_.size()).first;
}

}  // namespace

PruneResult run_pipeline(model::Model& m, ExecContext& ctx, Communicator& comm, const PruneOptions& opt,
                         const PipelineInputs& in, const LayerSink& sink, Journal* journal) {
  Pipeline p(m, ctx, comm, opt, in, sink, journal);
  return p.run();
}

}  // namespace sp::prune
