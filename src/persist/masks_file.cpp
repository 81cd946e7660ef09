// masks.h5 (layout in docs/formats.md, "masks.h5").
#include <fmt/format.h>

#include "io/hdf5_file.h"
#include "persist/outputs.h"

namespace sp::persist {

using prune::Allocation;
using prune::PruneOptions;

void write_masks(const std::string& path, const PruneResult& r, const RunInfo& info) {
  io::H5Writer h(path);
  const PruneOptions& o = r.options;
  const Allocation& a = r.allocation;
  h.attribute("/", "format", "struprune-masks");
  h.attribute("/", "format_version", int64_t{1});
  h.attribute("/", "method", to_string(r.recipe.method));
  h.attribute("/", "metric", to_string(r.recipe.metric));
  h.attribute("/", "allocation", r.recipe.flap_threshold ? "flap-threshold" : to_string(r.recipe.allocation));
  h.attribute("/", "normalize", to_string(r.recipe.normalize));
  h.attribute("/", "reconstruct", r.recipe.reconstruct);
  h.attribute("/", "refit_target", to_string(r.recipe.target));
  h.attribute("/", "bias_compensation", r.recipe.bias_compensation);
  h.attribute("/", "attention_unit", to_string(o.attention));
  h.attribute("/", "target_sparsity", o.sparsity);
  h.attribute("/", "achieved_sparsity", r.achieved_sparsity());
  h.attribute("/", "prunable_params", r.prunable_params);
  h.attribute("/", "removed_params", r.removed_params);
  h.attribute("/", "lambda", a.lambda);
  h.attribute("/", "tau", o.temperature);
  h.attribute("/", "admm_iterations", int64_t{a.iterations});
  h.attribute("/", "admm_primal_residual", a.primal_residual);
  h.attribute("/", "admm_dual_residual", a.dual_residual);
  h.attribute("/", "admm_converged", a.converged);
  h.attribute("/", "n_layers", int64_t(r.layers.size()));
  h.attribute("/", "config", info.config_yaml);
  h.attribute("/", "model_path", info.model_path);
  h.attribute("/", "model_identity", info.model_identity);
  h.attribute("/", "version", info.version);
  h.attribute("/", "ranks", int64_t{info.ranks});
  h.attribute("/", "device", info.device);
  for (const LayerResult& l : r.layers) {
    const std::string g = fmt::format("/layers/{}", l.layer);
    h.group(g);
    h.write_bool(g + "/attention_keep", l.attention_keep);
    h.write(g + "/attention_scores", std::span<const double>(l.attention_scores));
    h.write_bool(g + "/mlp_keep", l.mlp_keep);
    h.write(g + "/mlp_scores", std::span<const double>(l.mlp_scores));
    h.attribute(g, "sparsity", l.sparsity());
    h.attribute(g, "prunable_params", l.prunable_params);
    h.attribute(g, "removed_params", l.removed_params);
    h.attribute(g, "num_attention_heads", int64_t{l.shape.n_heads});
    h.attribute(g, "num_key_value_heads", int64_t{l.shape.n_kv_heads});
    h.attribute(g, "intermediate_size", int64_t{l.shape.intermediate});
  }
  h.commit();
}

}  // namespace sp::persist
