#pragma once
// Pass 2 over the layers: each layer pruned on the pruned model's hidden states (module_pruner.h)
// or, when the progress store holds it, replayed bit for bit; each final layer advances the
// calibration and evaluation streams and goes to the sink and the store.
#include <functional>
#include <optional>
#include <vector>

#include "model/hidden_stream.h"
#include "prune/module_pruner.h"
#include "prune/progress_store.h"
#include "prune/rank_windows.h"
#include "prune/removal_curves.h"
#include "prune/run_context.h"

namespace sp::prune {

// The allocation refinement's measurement pass (refine.h): besides each block's allocated level,
// the same module cut at further levels from the same statistics.
struct LayerVariants {
  int layer = 0;
  model::LayerWeights dense;    // the dense layer (compute dtype)
  model::LayerWeights centre;   // the layer pruned at the allocation (output dtype), as pass 2 writes it
  model::LayerWeights run;      // the centre as the streams run it (runnable())
  LayerResult result;           // its keep masks, scores, removed parameters and shape, as pass 2 reports them
  bool added_bias[2] = {false, false};  // as ModulePruner::added_bias after this layer
  // Per module: the layer with that module cut at each requested level instead (the other module
  // as in `centre`), in the output dtype; empty when not asked.
  std::vector<model::LayerWeights> variants[2];
};
struct VariantRequest {
  std::vector<std::vector<int>> levels;  // per block: levels to cut besides the allocated one
  std::function<void(LayerVariants&&)> sink;  // receives each layer after its centre is final
};

// A module's tensors (attention: norms, q/k/v/o with biases and per-head norms; MLP: norms,
// gate/up/down with biases) and its shape fields from `from`, the rest from `base`.
model::LayerWeights with_module_of(const model::LayerWeights& base, const model::LayerWeights& from, int module);

class PrunePass {
 public:
  PrunePass(RunContext& rc, const RunSetup& in, const RankWindows& win, const Blocks& blocks, ModulePruner& pruner,
            ProgressStore* store)
      : rc_(rc), in_(in), win_(win), blocks_(blocks), pruner_(pruner), store_(store) {}
  // Fills result.layers, pruned_config's layer shapes and the perplexity after; adds the evaluation
  // forwards' seconds to eval_seconds.
  void run(const LayerSink& sink, PruneResult& result, double& eval_seconds);
  // The refinement's measurement pass: as run() at `allocation`, with no evaluation streams, no
  // sink and no store; each layer's centre and variants go to req.sink.
  void measure(const Allocation& allocation, const VariantRequest& req);

 private:
  model::LayerWeights prune_layer(int l, model::HiddenStream& calib, model::HiddenStream* dense,
                                  const Allocation& allocation, LayerResult& r, model::LayerWeights& dense_w,
                                  std::optional<model::LayerWeights>& mid_weights,
                                  const VariantRequest* req = nullptr, LayerVariants* variants = nullptr);
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

// A written layer as the streams run it: compute dtype, the MLP zero-padded to whole GEMM tiles on
// a GPU, as inference does (the same outputs at tensor-core speed whatever the kept width).
model::LayerWeights runnable(const RunContext& rc, const model::LayerWeights& out);

// A pruned layer as the journal keeps it: without the producers a replay derives from the dense
// layer (those that were not refit).
LayerRecord journal_record(const Recipe& recipe, LayerRecord rec);

// A stream of this rank's windows `local` through the model, as `in` configures it.
model::HiddenStream make_stream(const RunContext& rc, const RunSetup& in, const TokenWindows& local);

}  // namespace sp::prune
