#pragma once
// RoPE inverse frequencies and attention factor of a config's rope type, computed as
// transformers' rope initialisation functions (modeling_rope_utils.py, transformers 5) do, but in
// float64 and cast to float once at the end. The kernel (ops::rope_) rotates by these.
#include <vector>

#include "io/model_config.h"

namespace sp::model {

struct RopeTable {
  std::vector<double> inv_freq;     // rotary_dim / 2 frequencies (ModelConfig::rope_dim())
  double attention_factor = 1.0;    // cos and sin are multiplied by it (yarn's mscale, longrope's)
  std::vector<float> inv_freq_f32;  // inv_freq cast once, what the kernel takes
};

// `seq_len`: the tokens the forward covers (largest position + 1). Only 'dynamic' and 'longrope'
// read it: 'dynamic' when it exceeds max_position_embeddings (NTK-aware base growth, as
// transformers' dynamic_rope_update does for a fresh model); 'longrope' takes its long factors when
// it exceeds original_max_position_embeddings (transformers 5 decides this per forward call, so a
// cached generation switches at that length while earlier keys keep the short rotation).
// `sliding`: the table of sliding-window layers, which differs where the config gives them their own
// RoPE (Gemma 3's rope_local_base_freq / rope_parameters.sliding_attention).
RopeTable rope_table(const io::ModelConfig& c, int seq_len = 0, bool sliding = false);

// Whether rope_table(c, seq_len, sliding) differs from rope_table(c, 0, sliding): the table must
// then be recomputed.
bool rope_depends_on_length(const io::ModelConfig& c, int seq_len, bool sliding = false);

// The tables a model's forwards use, computed once: the base table, that of sliding-window layers, and
// longrope's long table (its only other table). for_call() gives the one a forward covering `seq_len`
// tokens needs, or null when it depends on the length itself ('dynamic' past max_position_embeddings).
struct RopeTables {
  RopeTable base, sliding, long_factors;
  RopeTables() = default;
  explicit RopeTables(const io::ModelConfig& c);
  const RopeTable* for_call(const io::ModelConfig& c, int seq_len, bool sliding_layer) const;
};

// Whether a cached generation must start over on its whole sequence before the step that makes it
// `total` tokens long, `cached` of them in the cache: transformers' Phi3ForCausalLM drops the cache
// when the sequence first passes original_max_position_embeddings with longrope, so that every key
// is rotated with the long factors from then on.
bool rope_restarts_cache(const io::ModelConfig& c, int cached, int total);

}  // namespace sp::model
