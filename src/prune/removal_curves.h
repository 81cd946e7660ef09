#pragma once
// Pass 1's removal curves: per (layer, module) block, the cost of removing its groups in order
// (scores or greedy OBS errors on the dense model's statistics), brought to one scale across layers
// by the recipe's normalisation: the residual energy, the consumer's output energy, or the measured
// KL divergence at the output (KL probes: a copy of the first calibration windows follows the model
// with each block's uniform share removed). FLAP instead keeps standardised group scores.
#include <memory>
#include <optional>
#include <vector>

#include "model/hidden_stream.h"
#include "prune/allocation.h"
#include "prune/rank_windows.h"
#include "prune/run_context.h"

namespace sp::prune {

// The allocation's blocks, one per pruned (layer, module), in layer order.
struct Blocks {
  std::vector<Block> blocks;
  std::vector<std::vector<double>> z;  // FLAP: standardised group scores per block, in removal order
  std::vector<int> index[2];           // block index per module and layer, -1 when not pruned
};

// The blocks and their bounds (prune.s_min / s_max), known before any compute: a budget they
// cannot reach fails here.
Blocks make_blocks(const RunContext& rc);

class KlProbes;

class RemovalCurves {
 public:
  // states: where the KL probes' copies live (runtime.hidden_states, as the calibration stream's).
  RemovalCurves(RunContext& rc, Blocks& blocks, const RankWindows& win, model::Residence states);
  ~RemovalCurves();
  // Layer l's statistics over the calibration stream, which it advances past layer l (collective).
  StatsCollector statistics(int l, const model::LayerWeights& w, model::HiddenStream& calib);
  // The curves of layer l's blocks from its statistics; the KL probes advance past layer l.
  void add_layer(int l, const model::LayerWeights& w, StatsCollector& col);
  // After the last layer: the KL probes' measured levels (collective).
  void finish();

 private:
  void add_block(int l, int module, const model::LayerWeights& w, StatsCollector& col);

  RunContext& rc_;
  Blocks& blocks_;
  const bool curves_;             // the allocation needs curves (all but uniform)
  std::unique_ptr<KlProbes> kl_;  // normalize kl
};

}  // namespace sp::prune
