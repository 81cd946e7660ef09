#include "model/layer_weights.h"

#include "core/error.h"

namespace sp::model {

const char* role_name(Role r) {
  switch (r) {
    case Role::TokenEmbed:
      return "token_embed";
    case Role::PositionEmbed:
      return "position_embed";
    case Role::FinalNormWeight:
      return "final_norm_weight";
    case Role::FinalNormBias:
      return "final_norm_bias";
    case Role::LmHead:
      return "lm_head";
    case Role::AttnNormWeight:
      return "attn_norm_weight";
    case Role::AttnNormBias:
      return "attn_norm_bias";
    case Role::QWeight:
      return "q_weight";
    case Role::QBias:
      return "q_bias";
    case Role::KWeight:
      return "k_weight";
    case Role::KBias:
      return "k_bias";
    case Role::VWeight:
      return "v_weight";
    case Role::VBias:
      return "v_bias";
    case Role::OWeight:
      return "o_weight";
    case Role::OBias:
      return "o_bias";
    case Role::QNormWeight:
      return "q_norm_weight";
    case Role::KNormWeight:
      return "k_norm_weight";
    case Role::MlpNormWeight:
      return "mlp_norm_weight";
    case Role::MlpNormBias:
      return "mlp_norm_bias";
    case Role::GateWeight:
      return "gate_weight";
    case Role::GateBias:
      return "gate_bias";
    case Role::UpWeight:
      return "up_weight";
    case Role::UpBias:
      return "up_bias";
    case Role::DownWeight:
      return "down_weight";
    case Role::DownBias:
      return "down_bias";
    case Role::AttnPostNormWeight:
      return "attn_post_norm_weight";
    case Role::MlpPostNormWeight:
      return "mlp_post_norm_weight";
  }
  return "?";
}

bool role_is_norm_weight(Role r) {
  return r == Role::FinalNormWeight || r == Role::AttnNormWeight || r == Role::MlpNormWeight ||
         r == Role::AttnPostNormWeight || r == Role::MlpPostNormWeight || r == Role::QNormWeight ||
         r == Role::KNormWeight;
}

bool role_is_bias(Role r) {
  switch (r) {
    case Role::FinalNormBias:
    case Role::AttnNormBias:
    case Role::QBias:
    case Role::KBias:
    case Role::VBias:
    case Role::OBias:
    case Role::MlpNormBias:
    case Role::GateBias:
    case Role::UpBias:
    case Role::DownBias:
      return true;
    default:
      return false;
  }
}

Tensor& LayerWeights::at(Role r) {
  switch (r) {
    case Role::AttnNormWeight:
      return attn_norm_w;
    case Role::AttnNormBias:
      return attn_norm_b;
    case Role::QWeight:
      return q_w;
    case Role::QBias:
      return q_b;
    case Role::KWeight:
      return k_w;
    case Role::KBias:
      return k_b;
    case Role::VWeight:
      return v_w;
    case Role::VBias:
      return v_b;
    case Role::OWeight:
      return o_w;
    case Role::OBias:
      return o_b;
    case Role::QNormWeight:
      return q_norm_w;
    case Role::KNormWeight:
      return k_norm_w;
    case Role::MlpNormWeight:
      return mlp_norm_w;
    case Role::MlpNormBias:
      return mlp_norm_b;
    case Role::GateWeight:
      return gate_w;
    case Role::GateBias:
      return gate_b;
    case Role::UpWeight:
      return up_w;
    case Role::UpBias:
      return up_b;
    case Role::DownWeight:
      return down_w;
    case Role::DownBias:
      return down_b;
    case Role::AttnPostNormWeight:
      return attn_post_norm_w;
    case Role::MlpPostNormWeight:
      return mlp_post_norm_w;
    default:
      break;
  }
  SP_CHECK(false, "role {} is not a decoder-layer role", role_name(r));
  __builtin_unreachable();
}

size_t LayerWeights::nbytes() const {
  size_t n = 0;
  for (const Tensor* t :
       {&attn_norm_w,      &attn_norm_b,    &q_w,        &q_b,        &k_w,    &k_b,    &v_w,  &v_b,  &o_w,    &o_b,
        &q_norm_w,         &k_norm_w,       &mlp_norm_w, &mlp_norm_b, &gate_w, &gate_b, &up_w, &up_b, &down_w, &down_b,
        &attn_post_norm_w, &mlp_post_norm_w})
    if (t->defined()) n += t->nbytes();
  return n;
}

Tensor& GlobalWeights::at(Role r) {
  switch (r) {
    case Role::TokenEmbed:
      return token_embed;
    case Role::PositionEmbed:
      return position_embed;
    case Role::FinalNormWeight:
      return final_norm_w;
    case Role::FinalNormBias:
      return final_norm_b;
    case Role::LmHead:
      return lm_head;
    default:
      break;
  }
  SP_CHECK(false, "role {} is not a global role", role_name(r));
  __builtin_unreachable();
}

}  // namespace sp::model
