#pragma once
// The prunable structure of a decoder layer: ONE source of truth for groups, their parameter
// counts and the rows / columns each group owns (../shared/SPEC.md section 3, "Structured groups").
//
//  * MLP neuron k: row k of gate and up (or fc1, with its bias) and column k of down (or fc2).
//  * Attention unit, by prune.structures.attention:
//      heads            MHA head h: q/k/v rows [h*d, (h+1)*d) (+ biases), o columns [h*d, (h+1)*d)
//      kv_groups        KV head g with its G = H/KV query heads: q rows of heads gG..gG+G-1,
//                       k/v rows [g*d, (g+1)*d), o columns = the q rows
//      query_per_group  slice j: query head j of EVERY KV group (heads gG + j), q rows and o columns;
//                       k/v untouched, so the pruned layer is still a regular GQA layer
// Query head h reads KV head h / G (transformers' repeat_kv).
#include <cstdint>
#include <vector>

#include "core/enum_names.h"
#include "io/model_config.h"

namespace sp::prune {

enum class AttentionUnit { Heads, KvGroups, QueryPerGroup, None };
inline constexpr EnumName<AttentionUnit> kAttentionUnitNames[] = {{AttentionUnit::Heads, "heads"},
                                                                  {AttentionUnit::KvGroups, "kv_groups"},
                                                                  {AttentionUnit::QueryPerGroup, "query_per_group"},
                                                                  {AttentionUnit::None, "none"}};
inline const char* to_string(AttentionUnit u) { return enum_name<AttentionUnit>(kAttentionUnitNames, u); }

struct LayerGroups {
  int attention_units = 0;  // heads, KV groups or query slices (0 when not pruned)
  int64_t params_per_attention_unit = 0;
  int mlp_units = 0;  // intermediate neurons (0 when not pruned)
  int64_t params_per_mlp_unit = 0;
  int64_t layer_params = 0;  // every parameter of the layer (norms included)
  // Parameters of the pruned projections that no unit removes: k / v (with their biases) under
  // query_per_group. They count in the budget's total, so that a sparsity means the same model size
  // whatever the attention unit (q, k, v, o and the MLP are the prunable projections).
  int64_t fixed_params = 0;
  int64_t removable_params() const {
    return int64_t(attention_units) * params_per_attention_unit + int64_t(mlp_units) * params_per_mlp_unit;
  }
  int64_t prunable_params() const { return removable_params() + fixed_params; }
};

// Throws InputError when the unit does not fit the layer (heads on GQA, query_per_group on MHA).
LayerGroups layer_groups(const io::ModelConfig& m, int layer, AttentionUnit unit, bool mlp);
// Parameter count of the whole model (embeddings, layers, norms, head unless tied).
int64_t count_model_params(const io::ModelConfig& m);

// Which rows of q (and of k / v) and which columns of o belong to each attention unit.
struct AttentionLayout {
  int units = 0;
  int q_rows_per_unit = 0;   // rows of q_proj (= columns of o_proj) per unit
  int kv_rows_per_unit = 0;  // rows of k_proj / v_proj per unit (0 for query_per_group)
  // q_rows[u] / kv_rows[u]: the row indices of unit u, increasing.
  std::vector<std::vector<int32_t>> q_rows, kv_rows;
};
AttentionLayout attention_layout(const io::ModelConfig& m, int layer, AttentionUnit unit);

// Shape of a layer after keeping `kept_attention` of its attention units and `kept_mlp` neurons.
io::LayerShape pruned_shape(const io::ModelConfig& m, int layer, AttentionUnit unit, int kept_attention, int kept_mlp);

}  // namespace sp::prune
