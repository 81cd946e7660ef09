#pragma once
// Pass 2 over the layers: each layer pruned on the pruned model's hidden states (module_pruner.h)
// or, when the progress store holds it, replayed bit for bit; each final layer advances the
// calibration and evaluation streams and goes to the sink and the store.
#include <optional>
#include <vector>

#include "model/hidden_stream.h"
#include "prune/module_pruner.h"
#include "prune/progress_store.h"
#include "prune/rank_windows.h"
#include "prune/removal_curves.h"
#include "prune/run_context.h"

namespace sp::prune {

class PrunePass {
 public:
  PrunePass(RunContext& rc, const RunSetup& in, const RankWindows& win, const Blocks& blocks, ModulePruner& pruner,
            ProgressStore* store)
      : rc_(rc), in_(in), win_(win), blocks_(blocks), pruner_(pruner), store_(store) {}
  // Fills result.layers, pruned_config's layer shapes and the perplexity after; adds the evaluation
  // forwards' seconds to eval_seconds.
  void run(const LayerSink& sink, PruneResult& result, double& eval_seconds);

 private:
  model::LayerWeights prune_layer(int l, model::HiddenStream& calib, model::HiddenStream* dense,
                                  const Allocation& allocation, LayerResult& r, model::LayerWeights& dense_w,
                                  std::optional<model::LayerWeights>& mid_weights);
  model::LayerWeights replay_layer(int l, bool need_dense, LayerResult& r, model::LayerWeights& dense_w);
  void record_layer(const LayerResult& r, const model::LayerWeights& out);
  // Whether w's attention block is the one the pruned model runs (unchanged by the round trip
  // through the output dtype that the layer's final forward takes).
  bool attention_as_written(const model::LayerWeights& w) const;

  RunContext& rc_;
  const RunSetup& in_;
  const RankWindows& win_;
  const Blocks& blocks_;
  ModulePruner& pruner_;
  ProgressStore* store_;
};

// A stream of this rank's windows `local` through the model, as `in` configures it.
model::HiddenStream make_stream(const RunContext& rc, const RunSetup& in, const TokenWindows& local);

}  // namespace sp::prune
