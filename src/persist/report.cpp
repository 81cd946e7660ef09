#include "persist/report.h"

namespace sp::persist {

nlohmann::json perplexity_json(const std::vector<prune::PerplexityRow>& rows, int seqlen) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& r : rows)
    j[r.name] = {{"perplexity", r.ppl},
                 {"mean_nll", r.mean_nll},
                 {"windows", r.windows},
                 {"scored_tokens", r.tokens},
                 {"seqlen", seqlen}};
  return j;
}

nlohmann::json prune_json(const prune::PruneResult& r, double target_sparsity, double temperature) {
  const auto& a = r.allocation;
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& x : r.layers)
    layers.push_back({{"layer", x.layer},
                      {"sparsity", x.sparsity()},
                      {"prunable_params", x.prunable_params},
                      {"removed_params", x.removed_params},
                      {"num_attention_heads", x.shape.n_heads},
                      {"num_key_value_heads", x.shape.n_kv_heads},
                      {"intermediate_size", x.shape.intermediate}});
  nlohmann::json j = {{"method", prune::to_string(r.recipe.method)},
          {"recipe", r.recipe.summary()},
          {"target_sparsity", target_sparsity},
          {"achieved_sparsity", r.achieved_sparsity()},
          {"prunable_params", r.prunable_params},
          {"removed_params", r.removed_params},
          {"lambda", a.lambda},
          {"temperature", temperature},
          {"admm",
           {{"iterations", a.iterations},
            {"primal_residual", a.primal_residual},
            {"dual_residual", a.dual_residual},
            {"converged", a.converged}}},
          {"layers", layers}};
  if (r.refine) j["refine"] = refine_json(*r.refine);
  return j;
}

nlohmann::json refine_json(const prune::RefineReport& r, nlohmann::json (*number)(double)) {
  auto num = [number](double v) { return number ? number(v) : nlohmann::json(v); };
  nlohmann::json rounds = nlohmann::json::array();
  for (const auto& x : r.rounds) {
    nlohmann::json c = nlohmann::json::array();
    for (const auto& [m, kl] : x.candidates) c.push_back({{"exchanges", m}, {"kl", num(kl)}});
    rounds.push_back({{"kl", num(x.kl)},
                      {"exchanges_proposed", x.moves},
                      {"candidates", c},
                      {"exchanges_taken", x.taken},
                      {"reverted", x.reverted}});
  }
  return {{"windows", r.windows},
          {"seqlen", r.seqlen},
          {"rounds", rounds},
          {"removed_before", r.start_removed},
          {"removed_after", r.removed}};
}

nlohmann::json seconds_json(const prune::PruneResult& r) {
  nlohmann::json seconds = nlohmann::json::object();
  for (const auto& [k, v] : r.seconds) seconds[k] = v;
  return seconds;
}

}  // namespace sp::persist
