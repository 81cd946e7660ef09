#pragma once
// The sequential StructPrune pipeline (../shared/SPEC.md section 3, "Sequential propagation"); its
// parts: removal_curves.h (pass 1), allocation.h, prune_pass.h and module_pruner.h (pass 2):
//   pass 1  the dense model streams the calibration windows layer by layer; per layer and module,
//           the statistics give a removal curve (scores, or greedy OBS errors), normalised to one
//           scale across layers; the evaluation windows stream along (perplexity before);
//   alloc   the global budget is split over the (layer, module) blocks (allocation.h);
//   pass 2  layer by layer on the PRUNED model's hidden states: statistics of the attention
//           consumer's inputs, choose the allocated units, refit o_proj; then the same for the MLP on
//           the attention-pruned layer; the pruned layer advances the calibration and evaluation
//           windows and is handed to the sink (checkpoint shards, masks) before the next is loaded.
// One decoder layer's weights are resident at a time. Each rank keeps per-layer records; the
// allocation exchanges only scalars and curves through the Communicator.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "core/context.h"
#include "model/hidden_stream.h"
#include "model/model.h"
#include "prune/options.h"
#include "prune/refine_report.h"

namespace sp::prune {

struct TokenWindows {
  std::string name;
  std::vector<int32_t> ids;  // windows * seqlen, window-major
  int windows = 0;
  int seqlen = 0;
};

struct LayerResult {
  int layer = 0;
  std::vector<uint8_t> attention_keep, mlp_keep;     // per unit (empty when the module is not pruned)
  std::vector<double> attention_scores, mlp_scores;  // the scores the units were chosen by (pass 2)
  int64_t prunable_params = 0, removed_params = 0;
  double sparsity() const { return prunable_params ? double(removed_params) / double(prunable_params) : 0.0; }
  io::LayerShape shape;                       // after pruning
  double attention_error = 0, mlp_error = 0;  // relative output error left after the refit (calibration)
};

struct PerplexityRow {
  std::string name;
  int64_t windows = 0, tokens = 0;
  double mean_nll = 0, ppl = 0;
};

struct PruneResult {
  Recipe recipe;
  PruneOptions options;
  Allocation allocation;
  std::vector<LayerResult> layers;
  int64_t prunable_params = 0, removed_params = 0;
  double achieved_sparsity() const { return prunable_params ? double(removed_params) / double(prunable_params) : 0; }
  std::vector<PerplexityRow> before, after;
  std::map<std::string, double> seconds;  // per phase
  std::optional<RefineReport> refine;     // prune.refine_rounds > 0
  io::ModelConfig pruned_config;
};

// Receives each pruned layer as soon as it is final (weights in the output dtype, compact shapes).
using LayerSink = std::function<void(const LayerResult&, const model::LayerWeights&)>;

// The windows a prune streams and how: batch size, where hidden states live, the written dtype.
struct RunSetup {
  TokenWindows calibration;
  TokenWindows probe;              // KL probe windows of their own (none: the first calibration windows)
  TokenWindows refine;             // the allocation refinement's held-out windows (refine.h)
  std::vector<TokenWindows> eval;  // perplexity before and after (may be empty)
  bool eval_before = true;         // false: only after (the dense perplexity is known)
  int batch = 8;                   // windows per forward call
  // Where the calibration and evaluation hidden states live between forwards (model/hidden_stream.h):
  // host memory when a memory budget cannot hold them on the device (cli/plan.cpp).
  model::Residence states = model::Residence::Device;
  DType output_dtype = DType::BF16;  // dtype of the written weights; the pruned model runs on them
};

class ProgressStore;
// With a progress store (progress_store.h; the resume journal), pass 1 and the layers it records are
// taken from it instead of being computed again, and what is computed is recorded.
PruneResult run_pipeline(model::Model& m, ExecContext& ctx, Communicator& comm, const PruneOptions& opt,
                         const RunSetup& in, const LayerSink& sink, ProgressStore* store = nullptr);

}  // namespace sp::prune
