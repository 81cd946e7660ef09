#pragma once
// Removing groups from a layer's weights: every weight and bias of a removed group goes, nothing
// half-pruned remains (the kept rows / columns are gathered into smaller tensors); the consumer
// (o_proj, down_proj / fc2) may be replaced by its refit and its bias by a compensated one.
#include <vector>

#include "core/context.h"
#include "io/model_config.h"
#include "model/layer_weights.h"
#include "prune/groups.h"

namespace sp::prune {

struct ModuleEdit {
  std::vector<int32_t> kept;  // kept units, increasing
  Tensor consumer;            // refit consumer weights [out, kept columns] (any float dtype) or undefined
  Tensor consumer_bias;       // new consumer bias [out] or undefined (keep the old one)
};

// The columns of o_proj (= rows of q_proj) and the rows of k/v_proj that the kept units own.
std::vector<int32_t> kept_q_rows(const AttentionLayout& layout, const std::vector<int32_t>& kept);
std::vector<int32_t> kept_kv_rows(const AttentionLayout& layout, const std::vector<int32_t>& kept, int n_kv_rows);

// w with its attention reduced to the kept units (shape updated). Tensors stay in w's dtype.
model::LayerWeights prune_attention(ExecContext& ctx, const io::ModelConfig& cfg, AttentionUnit unit,
                                    const model::LayerWeights& w, const ModuleEdit& e);
// w with its MLP reduced to the kept neurons (gate/up rows + biases, down columns).
model::LayerWeights prune_mlp(ExecContext& ctx, const model::LayerWeights& w, const ModuleEdit& e);

// Every tensor of w converted to `dt` (for writing); and back: `dt` rounding then compute dtype.
model::LayerWeights convert_layer(ExecContext& ctx, const model::LayerWeights& w, DType dt);

// The masked dense form of a compact layer: every tensor back at the dense shape of `dense`
// (layer shape of the original config) with zeros in the removed rows / columns.
model::LayerWeights expand_to_dense(ExecContext& ctx, const io::ModelConfig& original, AttentionUnit unit,
                                    const model::LayerWeights& compact, const std::vector<int32_t>& kept_attention,
                                    const std::vector<int32_t>& kept_mlp);

}  // namespace sp::prune
