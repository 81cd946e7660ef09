#pragma once
// Pass 2 on one module of one layer: statistics of the consumer's inputs on the pruned model (with
// the dense model's activations of the same windows when the refit targets them), the producers
// optionally refit first, the allocated number of cheapest groups removed, the consumer refit (or
// its bias compensated), the module's weights compacted. Remembers whether a consumer gained a
// bias (the pruned config then declares one).
#include <vector>

#include "model/hidden_stream.h"
#include "prune/pipeline.h"
#include "prune/run_context.h"

namespace sp::prune {

class ModulePruner {
 public:
  explicit ModulePruner(RunContext& rc) : rc_(rc) {}

  // w with k groups of `module` removed; r receives the keep mask, the scores and the removed
  // parameters. dense: the dense model's stream over the same windows (or null), dense_w its layer.
  // With `also`, the same module cut from the same statistics at each of also_k's levels too (the
  // allocation refinement's variants, refine.h); r describes the cut at k only.
  model::LayerWeights prune(int layer, int module, const model::LayerWeights& w, const model::LayerWeights& dense_w,
                            model::HiddenStream& calib, model::HiddenStream* dense, int k, LayerResult& r,
                            const std::vector<int>& also_k = {}, std::vector<model::LayerWeights>* also = nullptr);
  // The dense layer cut to r's keep masks, no refit: what the producers of the pruned layer are when
  // they were not refit (the journal leaves those out and a replay derives them here).
  model::LayerWeights selected_layer(const model::LayerWeights& dense_w, const LayerResult& r) const;

  bool added_bias(int module) const { return added_bias_[module]; }
  void note_added_bias(int module, bool added) { added_bias_[module] = added_bias_[module] || added; }

 private:
  // Streams every calibration batch through `layer` up to the tap `point` with weights w into col;
  // with a dense stream, its activations at `point` for the same windows pair with them (cross-Gram).
  void collect(int layer, model::TapPoint point, const model::LayerWeights& w, const model::LayerWeights& dense_w,
               model::HiddenStream& calib, model::HiddenStream* dense, StatsCollector& col);
  model::LayerWeights refit_producers(int layer, int module, const model::LayerWeights& w,
                                      const model::LayerWeights& dense_w, model::HiddenStream& calib,
                                      model::HiddenStream& dense);
  // w with the first k groups of c.order removed and the consumer refit from col (or compensated).
  model::LayerWeights cut(int layer, int module, const model::LayerWeights& w, StatsCollector& col,
                          const std::vector<int32_t>& order, int k, bool dense_target, std::vector<uint8_t>& keep);
  Tensor compensated_bias(int layer, int module, const model::LayerWeights& w, const std::vector<uint8_t>& keep,
                          const ChannelStats& s);

  RunContext& rc_;
  bool added_bias_[2] = {false, false};
  bool warned_bias_ = false;
};

}  // namespace sp::prune
