#pragma once
// RoPE inverse frequencies and attention factor of a config's rope type, computed as
// transformers' rope initialisation functions (modeling_rope_utils.py, transformers 5) do, but in
// float64 and cast to float once at the end. The kernel (ops::rope_) rotates by these.
#include <vector>

#include "io/model_config.h"

namespace sp::model {

struct RopeTable {
  std::vector<double> inv_freq;     // head_dim / 2 frequencies
  double attention_factor = 1.0;    // cos and sin are multiplied by it (yarn's mscale)
  std::vector<float> inv_freq_f32;  // inv_freq cast once, what the kernel takes
};

// `seq_len`: the tokens the forward covers (largest position + 1). Only 'dynamic' reads it, and
// only when it exceeds max_position_embeddings (NTK-aware base growth, as transformers'
// dynamic_rope_update does for a fresh model).
// `sliding`: the table of sliding-window layers, which differs where the config gives them their own
// RoPE (Gemma 3's rope_local_base_freq / rope_parameters.sliding_attention).
RopeTable rope_table(const io::ModelConfig& c, int seq_len = 0, bool sliding = false);

// Whether rope_table(c, seq_len, sliding) differs from rope_table(c, 0, sliding): the table must
// then be recomputed.
bool rope_depends_on_length(const io::ModelConfig& c, int seq_len, bool sliding = false);

}  // namespace sp::model
