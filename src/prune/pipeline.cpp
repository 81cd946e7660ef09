#include "prune/pipeline.h"

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "core/fail_point.h"
#include "core/log.h"
#include "core/ranges.h"
#include "kernels/ops.h"
#include "model/hidden_stream.h"
#include "prune/compact.h"
#include "prune/progress_store.h"
#include "prune/module_pruner.h"
#include "prune/rank_windows.h"
#include "prune/removal_curves.h"
#include "prune/run_context.h"

namespace sp::prune {
namespace {

using model::HiddenStream;
using model::LayerWeights;
using model::Role;

// The tensors of a layer's attention block: a stream halfway through the layer has applied them.
constexpr Role kAttentionRoles[] = {Role::AttnNormWeight, Role::AttnNormBias, Role::QWeight, Role::QBias,
                                    Role::KWeight,        Role::KBias,        Role::VWeight, Role::VBias,
                                    Role::OWeight,        Role::OBias};

bool same_tensor(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  return a.raw() == b.raw() && a.dtype() == b.dtype() && a.shape() == b.shape();
}

// Runs the passes in order: the blocks, pass 1 (or its journal record), the allocation, pass 2 layer
// by layer (computed, or replayed from the journal), each final layer handed to the sink.
class Pipeline {
 public:
  Pipeline(model::Model& m, ExecContext& ctx, Communicator& comm, const PruneOptions& opt, const PipelineInputs& in,
           const LayerSink& sink, ProgressStore* journal)
      : rc_(m, ctx, comm, opt), in_(in), sink_(sink), journal_(journal), pruner_(rc_) {}

  PruneResult run();

 private:
  void pass1();
  void allocate();
  void pass2();
  // Layer l of pass 2: computed (pruned and refit) or, when journalled, replayed bit for bit.
  LayerWeights prune_layer(int l, HiddenStream& calib, HiddenStream* dense, LayerResult& r, LayerWeights& dense_w,
                           std::optional<LayerWeights>& mid_weights);
  LayerWeights replay_layer(int l, bool need_dense, LayerResult& r, LayerWeights& dense_w);
  void record_layer(const LayerResult& r, const LayerWeights& out);
  // Whether w's attention block is the one the pruned model runs (unchanged by the round trip
  // through the output dtype that the layer's final forward takes).
  bool attention_as_written(const LayerWeights& w) const {
    return std::all_of(std::begin(kAttentionRoles), std::end(kAttentionRoles), [&](Role r) {
      return !w.at(r).defined() || (w.at(r).dtype() == in_.output_dtype && in_.output_dtype == rc_.model.dtype());
    });
  }
  HiddenStream stream(const TokenWindows& local) const {
    return HiddenStream(rc_.model, rc_.ctx, local.ids, local.windows, local.seqlen, in_.batch, in_.states);
  }

  RunContext rc_;
  const PipelineInputs& in_;
  const LayerSink& sink_;
  ProgressStore* journal_;
  ModulePruner pruner_;
  Blocks blocks_;
  RankWindows win_;
  PruneResult result_;
  double eval_seconds_ = 0;
};

// Pass 1: the dense model's statistics, one curve per (layer, module); perplexity before.
void Pipeline::pass1() {
  const double t0 = wall_seconds();
  if (rc_.recipe.allocation == AllocationMode::Uniform && !in_.eval_before) return;  // uniform needs no curves
  HiddenStream calib = stream(win_.calibration);
  std::vector<HiddenStream> evals;
  if (in_.eval_before)
    for (const auto& e : win_.eval) evals.push_back(stream(e));
  RemovalCurves curves(rc_, blocks_, win_);
  Progress progress("pass 1 (statistics)", long(rc_.cfg.n_layers));
  for (int l = 0; l < rc_.cfg.n_layers; ++l) {
    const LayerWeights w = rc_.clock.timed("pass1.load", [&] { return rc_.model.load_layer(rc_.ctx, l); });
    StatsCollector col = curves.statistics(l, w, calib);
    const double te = wall_seconds();
    for (auto& e : evals) e.forward(l, w);
    eval_seconds_ += wall_seconds() - te;
    curves.add_layer(l, w, col);
    progress.step(long(l + 1));
  }
  progress.finish();
  curves.finish();
  if (in_.eval_before) result_.before = perplexities(in_, win_, evals, rc_.comm);
  rc_.clock["pass1"] = wall_seconds() - t0;
}

void Pipeline::allocate() {
  const double t0 = wall_seconds();
  const Recipe& recipe = rc_.recipe;
  const PruneOptions& opt = rc_.opt;
  if (recipe.flap_threshold) {
    result_.allocation = flap_allocation(blocks_.blocks, blocks_.z, opt.sparsity);
  } else {
    AllocationOptions ao;
    ao.mode = recipe.allocation;
    ao.sparsity = opt.sparsity;
    ao.temperature = opt.temperature;
    ao.rho = opt.rho;
    ao.max_iters = opt.admm_max_iters;
    ao.tol_primal = opt.admm_tol_primal;
    ao.tol_dual = opt.admm_tol_dual;
    ao.round_to = opt.round_to;
    ao.uniform_shape = opt.uniform_shape;
    // Each rank takes part with the blocks of the layers it owns (a contiguous range): the ADMM's
    // local steps run where the blocks live and only scalars cross (allocation.h); every rank has
    // every curve here, so the split only spreads the work.
    const auto [first, count] = balanced_ranges(rc_.cfg.n_layers, rc_.comm.size())[size_t(rc_.comm.rank())];
    const std::vector<Block>& all = blocks_.blocks;
    std::vector<Block> mine;
    std::vector<size_t> index;
    for (size_t i = 0; i < all.size(); ++i)
      if (all[i].layer >= first && all[i].layer < first + count) {
        mine.push_back(all[i]);
        index.push_back(i);
      }
    Allocation a = prune::allocate(mine, ao, rc_.comm);
    std::vector<int64_t> removed(all.size(), 0);
    for (size_t i = 0; i < index.size(); ++i) removed[index[i]] = a.removed[i];
    rc_.comm.allreduce_sum(std::span<int64_t>(removed));
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
              recipe.summary(), a.removed_params, a.total_params, a.budget, a.lambda, a.iterations);
  rc_.clock["allocation"] = wall_seconds() - t0;
}

LayerWeights Pipeline::replay_layer(int l, bool need_dense, LayerResult& r, LayerWeights& dense_w) {
  LayerRecord rec = journal_->layer(l, rc_.ctx);
  r = std::move(rec.result);
  LayerWeights out = std::move(rec.weights);
  for (int mod : kModules) pruner_.note_added_bias(mod, rec.added_bias[mod]);
  if (need_dense || !rec.derived.empty()) dense_w = rc_.model.load_layer(rc_.ctx, l);
  if (!rec.derived.empty()) {
    const LayerWeights sel = pruner_.selected_layer(dense_w, r);
    for (Role role : rec.derived) out.at(role) = ops::convert(rc_.ctx, sel.at(role), in_.output_dtype);
  }
  return out;
}

LayerWeights Pipeline::prune_layer(int l, HiddenStream& calib, HiddenStream* dense, LayerResult& r,
                                   LayerWeights& dense_w, std::optional<LayerWeights>& mid_weights) {
  fail_point(rc_.comm.rank(), "pass2", l);
  dense_w = rc_.clock.timed("pass2.load", [&] { return rc_.model.load_layer(rc_.ctx, l); });
  r.layer = l;
  r.prunable_params = rc_.groups[size_t(l)].prunable_params();
  LayerWeights w = dense_w;
  for (int mod : kModules) {
    const int b = blocks_.index[mod][size_t(l)];
    if (b < 0) continue;
    // The pruned attention block runs once per batch: the MLP's statistics and the layer's
    // final forward continue from the residual after it (else each recomputes it).
    if (mod == kMlp && attention_as_written(w)) {
      mid_weights = w;
      rc_.clock.forwards("pass2", nullptr, [&] {
        for (int bi = 0; bi < calib.batches(); ++bi)
          calib.forward_batch(bi, l, w, nullptr, true, model::kMidResidual);
      });
    }
    // Likewise the dense reference: its attention block, the same for every forward, runs once.
    if (mod == kMlp && dense)
      rc_.clock.forwards("pass2", nullptr, [&] {
        for (int bi = 0; bi < dense->batches(); ++bi)
          dense->forward_batch(bi, l, dense_w, nullptr, true, model::kMidResidual);
      });
    w = pruner_.prune(l, mod, w, dense_w, calib, dense, result_.allocation.removed[size_t(b)], r);
  }
  // The pruned model runs on exactly the weights that are written (output dtype, then compute).
  LayerWeights out = rc_.clock.timed("pass2.edit", [&] { return convert_layer(rc_.ctx, w, in_.output_dtype); });
  r.shape = out.shape;
  return out;
}

void Pipeline::record_layer(const LayerResult& r, const LayerWeights& out) {
  LayerRecord rec{r, out, {pruner_.added_bias(kAttention), pruner_.added_bias(kMlp)}, {}};
  // Producers that were not refit are a selection of the dense layer: a replay derives them
  // (selected_layer), so the journal holds about a third of the pruned layer.
  if (!rc_.recipe.refit_producers)
    for (Role role : {Role::QWeight, Role::KWeight, Role::VWeight, Role::GateWeight, Role::UpWeight})
      if (rec.weights.at(role).defined()) rec.weights.at(role) = Tensor(), rec.derived.push_back(role);
  journal_->save_layer(rec);
}

// Pass 2: layer by layer on the pruned model's hidden states; each final layer advances the
// calibration and evaluation streams and goes to the sink (and the journal).
void Pipeline::pass2() {
  const double t0 = wall_seconds();
  const Recipe& recipe = rc_.recipe;
  ExecContext& ctx = rc_.ctx;
  HiddenStream calib = stream(win_.calibration);
  std::optional<HiddenStream> dense;
  if (recipe.reconstruct && (recipe.target == RefitTarget::Dense || recipe.refit_producers))
    dense.emplace(stream(win_.calibration));
  std::vector<HiddenStream> evals;
  for (const auto& e : win_.eval) evals.push_back(stream(e));
  // Layers of pass 2 the journal holds (every rank read the same journal: commands_prune.cpp checks).
  const int done = journal_ ? journal_->layers_done() : 0;
  Progress progress("pass 2 (prune + refit)", long(rc_.cfg.n_layers));
  for (int l = 0; l < rc_.cfg.n_layers; ++l) {
    LayerResult r;
    LayerWeights dense_w;
    std::optional<LayerWeights> mid_weights;  // the attention block the calibration stream has applied
    const LayerWeights out = l < done ? replay_layer(l, dense.has_value(), r, dense_w)
                                      : prune_layer(l, calib, dense ? &*dense : nullptr, r, dense_w, mid_weights);
    // On a GPU the streams run the MLP zero-padded to whole GEMM tiles, as inference does: the same
    // outputs, at tensor-core speed whatever the kept width (the CPU's sums would merely reorder).
    const LayerWeights run = rc_.clock.timed("pass2.edit", [&] {
      return model::with_padded_mlp(ctx, convert_layer(ctx, out, rc_.model.dtype()),
                                    ctx.device().is_cuda() ? model::kInferenceMlpMultiple : 1);
    });
    if (mid_weights)
      for (Role role : kAttentionRoles)
        SP_CHECK(same_tensor(run.at(role), mid_weights->at(role)),
                 "layer {}: the stream continues from attention weights other than those written", l);
    rc_.clock.forwards("pass2", nullptr, [&] {
      calib.forward(l, run);
      if (dense) dense->forward(l, dense_w);
    });
    const double te = wall_seconds();
    for (auto& e : evals) e.forward(l, run);
    eval_seconds_ += wall_seconds() - te;
    result_.pruned_config.layers[size_t(l)] = r.shape;
    rc_.clock.timed("pass2.outputs", [&] {
      sink_(r, out);
      if (journal_ && l >= done) record_layer(r, out);
    });
    result_.layers.push_back(std::move(r));
    progress.step(long(l + 1));
  }
  progress.finish();
  if (journal_) journal_->flush();  // the last layer's files (a failed write turns the journal off)
  result_.after = perplexities(in_, win_, evals, rc_.comm);
  rc_.clock["pass2"] = wall_seconds() - t0;
}

PruneResult Pipeline::run() {
  const double t0 = wall_seconds();
  const PruneOptions& opt = rc_.opt;
  SP_REQUIRE(in_.calibration.windows >= 1, "calibration: no window of {} tokens", in_.calibration.seqlen);
  result_.recipe = rc_.recipe;
  result_.options = opt;
  result_.pruned_config = rc_.cfg;
  SP_LOG_INFO("prune: {}, sparsity {:.3f}, {} calibration windows of {} tokens", rc_.recipe.summary(), opt.sparsity,
              in_.calibration.windows, in_.calibration.seqlen);
  blocks_ = make_blocks(rc_);
  win_ = share_windows(in_, opt.probe_windows, rc_.comm);
  if (journal_ && journal_->pass1()) {
    const Pass1Record& p = *journal_->pass1();
    SP_REQUIRE(p.allocation.removed.size() == blocks_.blocks.size(), "{}: the allocation has {} blocks, this run {}",
               journal_->path(), p.allocation.removed.size(), blocks_.blocks.size());
    result_.allocation = p.allocation;
    result_.before = p.before;
    rc_.clock["pass1"] = p.pass1_seconds;
    rc_.clock["allocation"] = p.allocation_seconds;
    eval_seconds_ = p.eval_seconds;
    SP_LOG_INFO("pass 1 and the allocation: from the journal ({} parameters to remove)", p.allocation.removed_params);
  } else {
    pass1();
    fail_point(rc_.comm.rank(), "allocation");
    allocate();
    if (journal_)
      journal_->save_pass1(
          {result_.allocation, result_.before, rc_.clock["pass1"], rc_.clock["allocation"], eval_seconds_});
  }
  pass2();
  for (const auto& l : result_.layers) {
    result_.prunable_params += l.prunable_params;
    result_.removed_params += l.removed_params;
  }
  io::ModelConfig& pc = result_.pruned_config;
  if (pruner_.added_bias(kAttention)) {
    pc.qkv_bias = pc.o_bias = true;
    pc.raw["attention_bias"] = true;
  }
  if (pruner_.added_bias(kMlp)) {
    pc.mlp_bias = true;
    pc.raw["mlp_bias"] = true;
  }
  rc_.clock["evaluation"] = eval_seconds_;
  rc_.clock["total"] = wall_seconds() - t0;
  result_.seconds = rc_.clock.seconds();
  return result_;
}

}  // namespace

PruneResult run_pipeline(model::Model& m, ExecContext& ctx, Communicator& comm, const PruneOptions& opt,
                         const PipelineInputs& in, const LayerSink& sink, ProgressStore* journal) {
  Pipeline p(m, ctx, comm, opt, in, sink, journal);
  return p.run();
}

}  // namespace sp::prune
