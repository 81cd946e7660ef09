#pragma once
// Choosing a module's groups from its statistics: the taps a recipe needs, and the removal order
// with its cost curve (greedy OBS, or the groups sorted by score). Used by both passes: pass 1
// turns the curve into an allocation block, pass 2 removes the first k groups of the order.
#include <vector>

#include "prune/run_context.h"
#include "prune/statistics.h"

namespace sp::prune {

// A module's removal order and scores, chosen from its statistics.
struct Choice {
  std::vector<int32_t> order;  // removal order, at least `k` long
  std::vector<double> cost;    // removal curve along `order` (cost[0] = 0)
  std::vector<double> scores;  // per group, the score it was ranked by
};

// The consumer's input columns each group of the module owns.
std::vector<std::vector<int32_t>> consumer_groups(const RunContext& rc, int layer, int module);

// Asks col for the taps the recipe scores the module by: the consumer's inputs (with their Gram and,
// with `cross`, the dense model's cross-Gram), the producers' inputs (Wanda), and with `residual`
// the residual after the module (Normalization::Residual).
void want_module_stats(const RunContext& rc, StatsCollector& col, int module, bool cross, bool residual);

// The order in which the module's groups go and the cost of each prefix, at most max_removed deep
// for OBS. dense_target: OBS towards the dense model's consumer output (cross-Gram refit first).
// `phase` names the phase the OBS seconds are charged to.
Choice choose(RunContext& rc, const char* phase, int layer, int module, const model::LayerWeights& w,
              StatsCollector& col, int max_removed, bool dense_target);

// The units kept when the first k groups of `order` go, out of n.
std::vector<uint8_t> keep_mask(int n, const std::vector<int32_t>& order, int k);
// The kept units of a keep mask, increasing.
std::vector<int32_t> kept_units(const std::vector<uint8_t>& keep);

}  // namespace sp::prune
