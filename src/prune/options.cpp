#include "prune/options.h"

#include <fmt/format.h>

namespace sp::prune {

Recipe resolve_recipe(const PruneOptions& o) {
  Recipe r{o.method,
           o.metric,
           o.normalize,
           o.allocation,
           false,
           o.reconstruct,
           o.target,
           o.bias_compensation,
           o.reconstruct && o.refit_producers,
           true,
           o.refit_toward_weights};
  auto uniform = [&](ScoreMetric metric, bool ls) {
    r.metric = metric;
    r.normalize = Normalization::None;
    r.allocation = AllocationMode::Uniform;
    r.reconstruct = ls;
    r.target = RefitTarget::Pruned;
    r.bias_compensation = false;
    r.refit_producers = false;
    r.intercept = false;
    r.toward_weights = false;
  };
  switch (o.method) {
    case Method::StructPrune:
      break;
    case Method::MagnitudeSp:
      uniform(ScoreMetric::Magnitude, false);
      break;
    case Method::WandaSp:
      uniform(ScoreMetric::Wanda, false);
      break;
    case Method::WandaSpLs:
      uniform(ScoreMetric::Wanda, true);
      break;
    case Method::ObsSpLs:
      uniform(ScoreMetric::Obs, true);
      break;
    case Method::Flap:
      r.metric = ScoreMetric::Wifv;
      r.normalize = Normalization::Standardize;
      r.allocation = AllocationMode::Global;
      r.flap_threshold = true;
      r.reconstruct = false;
      r.target = RefitTarget::Pruned;
      r.bias_compensation = true;
      r.refit_producers = false;
      r.intercept = false;
      r.toward_weights = false;
      break;
  }
  return r;
}

std::string Recipe::summary() const {
  const std::string refit =
      reconstruct ? fmt::format("to {}{}", to_string(target), refit_producers ? " incl. producers" : "") : "off";
  return fmt::format("{} (metric {}, normalize {}, allocation {}, refit {}{})", to_string(method), to_string(metric),
                     to_string(normalize), flap_threshold ? "flap-threshold" : to_string(allocation), refit,
                     bias_compensation ? ", bias compensation" : "");
}

}  // namespace sp::prune
