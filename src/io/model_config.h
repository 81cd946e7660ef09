#pragma once
// config.json of a Hugging Face checkpoint, parsed into one architecture-neutral description.
// Unknown model_type, or a configuration this engine cannot run exactly, is rejected with a
// message naming config.json and the field. Per-layer shapes are first-class because pruned
// checkpoints differ per layer; they are written to / read from config.json under
// "struprune_layers": [{"num_attention_heads": h, "num_key_value_heads": kv, "intermediate_size": f}, ...].
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace sp::io {

enum class ArchFamily { Llama, Opt, Gemma };  // llama / mistral / qwen2 / qwen3: Llama; gemma2 / gemma3_text: Gemma

struct LayerShape {
  int n_heads = 0;
  int n_kv_heads = 0;
  int intermediate = 0;
  bool operator==(const LayerShape&) const = default;
};

// RoPE as config.json's `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5)
// describes it; the inverse frequencies are computed from this by model/rope.h. Fields a type
// does not read keep their defaults; 0 / negative means "absent" where transformers derives a value.
struct RopeScaling {
  enum class Type { kDefault, kLinear, kDynamic, kLlama3, kYarn };
  Type type = Type::kDefault;
  std::string name = "default";    // the rope_type as written
  double factor = 1.0;             // linear / dynamic / llama3 / yarn
  int original_max_positions = 0;  // llama3 / yarn (yarn: max_position_embeddings when absent)
  double low_freq_factor = 1.0;    // llama3
  double high_freq_factor = 4.0;   // llama3
  double beta_fast = 32.0;         // yarn
  double beta_slow = 1.0;          // yarn
  double attention_factor = -1.0;  // yarn: < 0 = derive from factor (and mscale)
  double mscale = 0.0;             // yarn (DeepSeek): 0 = absent
  double mscale_all_dim = 0.0;     // yarn (DeepSeek): 0 = absent
  bool truncate = true;            // yarn: floor/ceil the correction range
};

struct ModelConfig {
  std::string model_type;  // "llama", "mistral", "qwen2", "qwen3", "opt", "gemma2", "gemma3_text"
  ArchFamily family = ArchFamily::Llama;
  int hidden = 0;
  int n_layers = 0;
  int vocab = 0;
  int head_dim = 0;
  int max_positions = 0;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.f;  // Llama family
  double rope_base = 10000.0;  // rope_theta as written (float64, for the inverse frequencies)
  RopeScaling rope;            // Llama family
  std::string hidden_act;      // "silu" (Llama family), "relu" (OPT), "gelu_pytorch_tanh" (Gemma)
  bool norm_before = true;     // OPT do_layer_norm_before (pre-LN); always true for Llama family
  int position_offset = 0;     // OPT learned positions: row = position + 2
  // Sliding-window attention, per layer. sliding_window: the configured window in tokens (0 = none,
  // e.g. qwen2 / qwen3 with use_sliding_window false); layer_window[i]: the window of layer i (0 =
  // full causal), from `layer_types` ("sliding_attention" / "full_attention") where the family has
  // them (qwen2 / qwen3: else from max_window_layers), every layer for mistral. A query at
  // position p of layer i sees keys p - layer_window[i] < j <= p, as transformers masks them.
  int sliding_window = 0;
  std::vector<int> layer_window;  // one per decoder layer
  bool qk_norm = false;           // qwen3, gemma3_text: per-head RMSNorm of q and k (q_norm, k_norm [head_dim])
  bool qkv_bias = false;          // q/k/v projections have biases (qwen2, attention_bias, opt)
  bool o_bias = false;            // o_proj / out_proj bias (attention_bias, opt)
  bool mlp_bias = false;          // gate/up/down or fc1/fc2 biases
  bool tie_embeddings = false;
  int bos_token_id = -1;
  int eos_token_id = -1;
  DType weight_dtype = DType::F32;  // "torch_dtype" / "dtype" (informational)
  std::vector<LayerShape> layers;   // one per decoder layer
  // Gemma 2 / 3 (neutral values elsewhere): RMSNorm weights are (norm_offset + w); attention scores
  // scaled by query_pre_attn_scalar^-0.5 (0: head_dim); tanh soft-capping cap * tanh(x / cap) of
  // attention scores / final logits (0: off); the RoPE of sliding layers (Gemma 3; rope_local_base
  // 0: that of full layers).
  float norm_offset = 0.f;
  double query_pre_attn_scalar = 0.0;
  float attn_softcap = 0.f;
  float final_softcap = 0.f;
  RopeScaling rope_local;
  double rope_local_base = 0.0;
  nlohmann::json raw;  // the parsed file, kept to write pruned configs

  int window_of(int layer) const { return layer_window.empty() ? 0 : layer_window.at(size_t(layer)); }
  bool uniform() const;  // every layer has the same shape
  // Largest per-layer sizes (what the stock HF fields hold for a non-uniform config).
  LayerShape max_layer() const;
};

ModelConfig load_model_config(const std::string& config_json_path);
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& label);
// A config.json for (possibly pruned) layer shapes, built from c.raw with the size fields
// replaced. Uniform shapes give stock HF fields only (head_dim written when it no longer equals
// hidden/heads); non-uniform shapes also write "struprune_layers", with the stock fields set to the
// per-layer maximum, and so do shapes with no attention or no MLP left in any layer (a stock field
// of 0 is read only beside "struprune_layers"). parse_model_config(model_config_to_json(c)) gives back c's shapes.
nlohmann::json model_config_to_json(const ModelConfig& c);
// Whether model_config_to_json(c) needs "struprune_layers" (layers differ, or a part is gone everywhere).
bool has_per_layer_shapes(const ModelConfig& c);
// Writes model_config_to_json(c) to path atomically (2-space indent).
void save_model_config(const ModelConfig& c, const std::string& path);

}  // namespace sp::io
