#pragma once
// The prune's own part of report.json: the method and recipe, the sparsities, the allocation with its
// ADMM residuals, each layer's shape, the perplexities before and after and the phases' seconds. The
// command adds the run's context (model, runtime, plan, outputs, config: cli/commands_prune.cpp) and
// writes the file.
#include <nlohmann/json.hpp>
#include <vector>

#include "prune/pipeline.h"

namespace sp::persist {

// {"<dataset>": {perplexity, mean_nll, windows, scored_tokens, seqlen}, ...}
nlohmann::json perplexity_json(const std::vector<prune::PerplexityRow>& rows, int seqlen);

// The "prune" section. target_sparsity and temperature: as configured.
nlohmann::json prune_json(const prune::PruneResult& r, double target_sparsity, double temperature);

// The allocation refinement: its held-out windows, per round the measured KL, the candidates and the
// exchanges taken, and the groups removed per block before and after. `number` writes the KLs (the
// journal's writes a non-finite one as "nan" / "inf"; by default a plain JSON number).
nlohmann::json refine_json(const prune::RefineReport& r, nlohmann::json (*number)(double) = nullptr);

// {"<phase>": seconds, ...}
nlohmann::json seconds_json(const prune::PruneResult& r);

}  // namespace sp::persist
