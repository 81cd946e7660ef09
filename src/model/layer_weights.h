#pragma once
// Weights of the model, by role. A LayerWeights holds ONE decoder layer (the unit that is resident
// at a time); GlobalWeights the embeddings, final norm and LM head. Tensors are in the compute dtype
// on the context device; roles a family does not have stay undefined (OPT has no gate; LLaMA has
// no norm biases; only Gemma has post-norms; biases only where the config says so).
#include "core/tensor.h"
#include "io/model_config.h"

namespace sp::model {

enum class Role {
  // global
  TokenEmbed,
  PositionEmbed,
  FinalNormWeight,
  FinalNormBias,
  LmHead,
  // per layer
  AttnNormWeight,
  AttnNormBias,
  QWeight,
  QBias,
  KWeight,
  KBias,
  VWeight,
  VBias,
  OWeight,
  OBias,
  QNormWeight,  // qwen3 / Gemma 3 q_norm / k_norm: [head_dim], shared by the heads
  KNormWeight,
  MlpNormWeight,
  MlpNormBias,
  GateWeight,
  GateBias,
  UpWeight,  // OPT fc1
  UpBias,
  DownWeight,  // OPT fc2
  DownBias,
  AttnPostNormWeight,  // Gemma: RMSNorms of the attention and MLP outputs
  MlpPostNormWeight,
};

// Every per-layer role, in the enum's order (a hand-laid table: clang-format would put one per line).
// clang-format off
inline constexpr Role kLayerRoles[] = {Role::AttnNormWeight, Role::AttnNormBias, Role::QWeight,     Role::QBias,
                                       Role::KWeight,        Role::KBias,        Role::VWeight,     Role::VBias,
                                       Role::OWeight,        Role::OBias,        Role::QNormWeight, Role::KNormWeight,
                                       Role::MlpNormWeight,  Role::MlpNormBias,  Role::GateWeight,  Role::GateBias,
                                       Role::UpWeight,       Role::UpBias,       Role::DownWeight,  Role::DownBias,
                                       Role::AttnPostNormWeight, Role::MlpPostNormWeight};
// clang-format on

const char* role_name(Role r);  // "q_weight", ...
bool role_is_norm_weight(Role r);
bool role_is_bias(Role r);  // linear or norm bias

struct LayerWeights {
  int layer = -1;
  io::LayerShape shape;
  Tensor attn_norm_w, attn_norm_b;
  Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
  Tensor q_norm_w, k_norm_w;
  Tensor mlp_norm_w, mlp_norm_b;
  Tensor gate_w, gate_b, up_w, up_b, down_w, down_b;
  Tensor attn_post_norm_w, mlp_post_norm_w;  // Gemma: [hidden]
  // Inference only (Model::fuse_projections): q / k / v and gate / up stacked by rows, one product
  // each; q_w, k_w, v_w (gate_w, up_w, and their biases) are then views into these. Not roles: the
  // bytes are counted once, through the views.
  Tensor qkv_w, qkv_b, gate_up_w, gate_up_b;

  Tensor& at(Role r);  // SP_CHECK on a global role
  const Tensor& at(Role r) const { return const_cast<LayerWeights*>(this)->at(r); }
  size_t nbytes() const;
};

struct GlobalWeights {
  Tensor token_embed;     // [vocab, hidden]
  Tensor position_embed;  // OPT: [max_positions + 2, hidden]
  Tensor final_norm_w, final_norm_b;
  Tensor lm_head;  // [vocab, hidden]; the token embedding itself when tied

  Tensor& at(Role r);
};

}  // namespace sp::model
