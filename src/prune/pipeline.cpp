#include "prune/pipeline.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "core/error.h"
#include "core/fail_point.h"
#include "core/log.h"
#include "core/ranges.h"
#include "kernels/ops.h"
#include "model/hidden_stream.h"
#include "prune/compact.h"
#include "prune/module_pruner.h"
#include "prune/progress_store.h"
#include "prune/prune_pass.h"
#include "prune/refine.h"
#include "prune/rank_windows.h"
#include "prune/removal_curves.h"
#include "prune/run_context.h"

namespace sp::prune {
namespace {

using model::HiddenStream;
using model::LayerWeights;

// Runs the passes in order: the blocks, pass 1 (or its record in the progress store), the
// allocation, pass 2 (prune_pass.h).
class Pipeline {
 public:
  Pipeline(model::Model& m, ExecContext& ctx, Communicator& comm, const PruneOptions& opt, const RunSetup& in,
           const LayerSink& sink, ProgressStore* journal)
      : rc_(m, ctx, comm, opt), in_(in), sink_(sink), journal_(journal), pruner_(rc_) {}

  PruneResult run();

 private:
  void pass1();
  void allocate();

  RunContext rc_;
  const RunSetup& in_;
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
  HiddenStream calib = make_stream(rc_, in_, win_.calibration);
  std::vector<HiddenStream> evals;
  if (in_.eval_before)
    for (const auto& e : win_.eval) evals.push_back(make_stream(rc_, in_, e));
  RemovalCurves curves(rc_, blocks_, win_, in_.states);
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
  // The objective at the allocation: the curves' total (mean KL per token under normalize kl).
  double predicted = 0.0;
  for (size_t i = 0; i < blocks_.blocks.size() && i < a.removed.size(); ++i)
    predicted += blocks_.blocks[i].cost[size_t(a.removed[i])];
  SP_LOG_INFO(
      "allocation ({}): remove {} of {} prunable parameters (target {}), lambda {:.4g}, {} iteration(s), the curves' "
      "total {:.6g}",
      recipe.summary(), a.removed_params, a.total_params, a.budget, a.lambda, a.iterations, predicted);
  rc_.clock["allocation"] = wall_seconds() - t0;
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
  std::unique_ptr<ProgressStore> replay;  // the refinement's layers
  if (journal_ && journal_->pass1()) {
    const Pass1Record& p = *journal_->pass1();
    SP_REQUIRE(p.allocation.removed.size() == blocks_.blocks.size(), "{}: the allocation has {} blocks, this run {}",
               journal_->path(), p.allocation.removed.size(), blocks_.blocks.size());
    result_.allocation = p.allocation;
    result_.before = p.before;
    rc_.clock["pass1"] = p.pass1_seconds;
    rc_.clock["allocation"] = p.allocation_seconds;
    eval_seconds_ = p.eval_seconds;
    result_.refine = p.refine;
    for (const auto& [k, v] : p.refine_seconds) rc_.clock[k] = v;
    SP_LOG_INFO("pass 1 and the allocation: from the journal ({} parameters to remove)", p.allocation.removed_params);
  } else {
    pass1();
    fail_point(rc_.comm.rank(), "allocation");
    allocate();
    if (opt.refine_rounds > 0) {
      RefineReport report;
      std::vector<LayerRecord> layers;
      result_.allocation = refine_allocation(rc_, in_, win_, blocks_, pruner_, result_.allocation, report, layers);
      result_.refine = std::move(report);
      // Pass 2 replays the verifying measurement's layers (the same bits it would compute).
      replay = replay_store(std::move(layers), journal_);
    }
    if (journal_) {
      Pass1Record p{result_.allocation, result_.before, rc_.clock["pass1"], rc_.clock["allocation"], eval_seconds_,
                    result_.refine, {}};
      for (const auto& [k, v] : rc_.clock.seconds())
        if (k == "refine" || k.starts_with("refine.")) p.refine_seconds[k] = v;
      journal_->save_pass1(p);
    }
  }
  PrunePass(rc_, in_, win_, blocks_, pruner_, replay ? replay.get() : journal_).run(sink_, result_, eval_seconds_);
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
                         const RunSetup& in, const LayerSink& sink, ProgressStore* journal) {
  Pipeline p(m, ctx, comm, opt, in, sink, journal);
  return p.run();
}

}  // namespace sp::prune
