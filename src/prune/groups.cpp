#include "prune/groups.h"

#include <numeric>

#include "core/error.h"

namespace sp::prune {
namespace {

bool is_opt(const io::ModelConfig& m) { return m.family == io::ArchFamily::Opt; }

// Query heads per KV head; validates the layer's head counts.
int64_t heads_per_kv(const io::ModelConfig& m, int layer) {
  const auto& s = m.layers.at(size_t(layer));
  SP_REQUIRE(s.n_heads == 0 || (s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0),
             "config.json: layer {}: {} heads are not a multiple of {} KV heads", layer, s.n_heads, s.n_kv_heads);
  return s.n_heads > 0 ? s.n_heads / s.n_kv_heads : 0;
}

// The configured unit, or None when the layer has no attention left (a pruned checkpoint).
AttentionUnit effective_unit(const io::ModelConfig& m, int layer, AttentionUnit unit) {
  const auto& s = m.layers.at(size_t(layer));
  const int64_t group = heads_per_kv(m, layer);
  if (s.n_heads == 0) return AttentionUnit::None;
  if (unit == AttentionUnit::Heads)
    SP_REQUIRE(group == 1,
               "prune.structures.attention = heads needs multi-head attention, but the model has {} query heads "
               "sharing {} KV heads (GQA): use kv_groups or query_per_group",
               s.n_heads, s.n_kv_heads);
  if (unit == AttentionUnit::QueryPerGroup)
    SP_REQUIRE(group > 1,
               "prune.structures.attention = query_per_group needs grouped-query attention, but every one of the "
               "{} query heads has its own KV head: use heads or kv_groups",
               s.n_heads);
  return unit;
}

std::vector<int32_t> iota_range(int64_t first, int64_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int32_t(first));
  return v;
}

}  // namespace

LayerGroups layer_groups(const io::ModelConfig& m, int layer, AttentionUnit unit, bool mlp) {
  const auto& s = m.layers.at(size_t(layer));
  const int64_t h = m.hidden, hd = m.head_dim, H = s.n_heads, KV = s.n_kv_heads, ff = s.intermediate;
  const int64_t qb = m.qkv_bias ? 1 : 0;
  LayerGroups g;
  // Attention: q, k, v (+ biases), o (+ bias); MLP: gate/up/down or fc1/fc2 (+ biases); norms.
  const int64_t attn = h * H * hd + 2 * h * KV * hd + qb * (H + 2 * KV) * hd + H * hd * h + (m.o_bias && H > 0 ? h : 0);
  const int64_t mlp_mats = is_opt(m) ? 2 : 3;
  const int64_t mlp_bias = m.mlp_bias && ff > 0 ? (is_opt(m) ? ff + h : 2 * ff + h) : 0;
  // LayerNorm weight + bias twice (OPT); two RMSNorms (LLaMA) or four (Gemma); per-head q/k norms
  // (qwen3, Gemma 3) go with the attention.
  const bool four_norms = is_opt(m) || m.family == io::ArchFamily::Gemma;
  const int64_t norms = (four_norms ? 4 * h : 2 * h) + (m.qk_norm && H > 0 ? 2 * hd : 0);
  g.layer_params = attn + mlp_mats * h * ff + mlp_bias + norms;

  const int64_t group = heads_per_kv(m, layer);
  switch (effective_unit(m, layer, unit)) {
    case AttentionUnit::Heads:
      g.attention_units = int(H);
      g.params_per_attention_unit = 4 * hd * h + 3 * qb * hd;
      break;
    case AttentionUnit::KvGroups:
      g.attention_units = int(KV);
      g.params_per_attention_unit = (2 * group + 2) * hd * h + qb * (group + 2) * hd;
      break;
    case AttentionUnit::QueryPerGroup:
      g.attention_units = int(group);
      g.params_per_attention_unit = KV * (2 * hd * h + qb * hd);
      g.fixed_params = 2 * KV * hd * (h + qb);
      break;
    case AttentionUnit::None:
      break;
  }
  if (mlp && ff > 0) {
    g.mlp_units = int(ff);
    g.params_per_mlp_unit = mlp_mats * h + (m.mlp_bias ? (is_opt(m) ? 1 : 2) : 0);
  }
  return g;
}

int64_t count_model_params(const io::ModelConfig& m) {
  const int64_t h = m.hidden;
  int64_t n = int64_t(m.vocab) * h;                  // token embeddings
  if (!m.tie_embeddings) n += int64_t(m.vocab) * h;  // lm_head
  if (is_opt(m))
    n += (int64_t(m.max_positions) + m.position_offset) * h + 2 * h;  // learned positions, final LN
  else
    n += h;  // final RMSNorm
  for (int l = 0; l < m.n_layers; ++l) n += layer_groups(m, l, AttentionUnit::None, false).layer_params;
  return n;
}

AttentionLayout attention_layout(const io::ModelConfig& m, int layer, AttentionUnit unit) {
  const auto& s = m.layers.at(size_t(layer));
  const int64_t hd = m.head_dim, group = heads_per_kv(m, layer);
  AttentionLayout a;
  switch (effective_unit(m, layer, unit)) {
    case AttentionUnit::Heads:
    case AttentionUnit::KvGroups:
      // A KV group with G = 1 is a head: one formula for both.
      a.units = s.n_kv_heads;
      a.q_rows_per_unit = int(group * hd);
      a.kv_rows_per_unit = int(hd);
      for (int u = 0; u < a.units; ++u) {
        a.q_rows.push_back(iota_range(u * group * hd, group * hd));
        a.kv_rows.push_back(iota_range(u * hd, hd));
      }
      break;
    case AttentionUnit::QueryPerGroup:
      a.units = int(group);
      a.q_rows_per_unit = int(s.n_kv_heads * hd);
      for (int j = 0; j < a.units; ++j) {
        std::vector<int32_t> rows;
        for (int g = 0; g < s.n_kv_heads; ++g) {
          auto r = iota_range((g * group + j) * hd, hd);
          rows.insert(rows.end(), r.begin(), r.end());
        }
        a.q_rows.push_back(std::move(rows));
        a.kv_rows.emplace_back();
      }
      break;
    case AttentionUnit::None:
      break;
  }
  return a;
}

io::LayerShape pruned_shape(const io::ModelConfig& m, int layer, AttentionUnit unit, int kept_attention, int kept_mlp) {
  io::LayerShape s = m.layers.at(size_t(layer));
  const int group = int(heads_per_kv(m, layer));
  switch (effective_unit(m, layer, unit)) {
    case AttentionUnit::Heads:
    case AttentionUnit::KvGroups:
      s.n_kv_heads = kept_attention;
      s.n_heads = kept_attention * group;
      break;
    case AttentionUnit::QueryPerGroup:
      s.n_heads = kept_attention * s.n_kv_heads;
      break;
    case AttentionUnit::None:
      break;
  }
  if (kept_attention == 0 && unit != AttentionUnit::None) s.n_kv_heads = 0, s.n_heads = 0;
  s.intermediate = kept_mlp;
  return s;
}

}  // namespace sp::prune
