#pragma once
// Linear group importance (../shared/SPEC.md section 3, "Scores"): one number S_g per attention
// unit / MLP neuron, summed over the group's weights. Cost-normalised scores are S_g / n_g.
//   magnitude  sum |W_ij| over the group's producer rows and consumer columns
//   wanda      sum |W_ij| ||X_j||_2: producer rows (q/k/v or gate/up/fc1) with the norms of the
//              layer's normed input, consumer columns (o / down / fc2) with the norms of their own
//              input channels (the head's / neuron's activations)
//   wifv       FLAP's fluctuation: sum over the group's consumer input channels j of
//              var(X_j) * ||W_:,j||^2 (sample variance over the calibration tokens)
// The structured OBS saliency (metric obs) needs the Gram matrix and lives in obs.h.
#include <vector>

#include "core/enum_names.h"
#include "model/layer_weights.h"
#include "prune/groups.h"
#include "prune/statistics.h"

namespace sp::prune {

enum class ScoreMetric { Wanda, Magnitude, Wifv, Obs };
inline constexpr EnumName<ScoreMetric> kScoreMetricNames[] = {{ScoreMetric::Wanda, "wanda"},
                                                              {ScoreMetric::Magnitude, "magnitude"},
                                                              {ScoreMetric::Wifv, "wifv"},
                                                              {ScoreMetric::Obs, "obs"}};
inline const char* to_string(ScoreMetric m) { return enum_name<ScoreMetric>(kScoreMetricNames, m); }

// What the linear metrics read: the channel statistics of the producer and consumer inputs.
struct ModuleStats {
  const ChannelStats* producer_in = nullptr;  // attn_in / mlp_in
  const ChannelStats* consumer_in = nullptr;  // attn_o_in / mlp_down_in
};

// S_g for every attention unit of the layout. Weights: the layer's q/k/v/o (any device).
std::vector<double> attention_scores(ScoreMetric metric, const model::LayerWeights& w, const AttentionLayout& layout,
                                     const ModuleStats& in);
// S_g for every MLP neuron (gate/up/down or fc1/fc2).
std::vector<double> mlp_scores(ScoreMetric metric, const model::LayerWeights& w, const ModuleStats& in);

// The metric's score of every input channel of a consumer (o_proj / down_proj / fc2 columns).
std::vector<double> consumer_channel_scores(ScoreMetric metric, const Tensor& consumer, const ChannelStats& in);
// FLAP's standardised unit scores: channel scores z-scored across the layer's channels (sample
// standard deviation), then averaged over each unit's channels (a head's; a neuron is one).
std::vector<double> flap_unit_zscores(const std::vector<double>& channel,
                                      const std::vector<std::vector<int32_t>>& unit_channels);

// Variance per channel from sums: (sumsq - sum^2 / T) / (T - 1), clamped at 0.
std::vector<double> channel_variance(const ChannelStats& s);

}  // namespace sp::prune
