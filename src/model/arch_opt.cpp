// OPT: tensor table and decoder-layer forward (pre-LN, or post-LN when do_layer_norm_before is
// false, as OPT-350m). Learned positions at row position + 2; ReLU MLP; biases; lm_head tied.
//   [LN] -> q, k, v -> causal attention (scale 1/sqrt(head_dim)) -> out_proj -> residual [-> LN]
//   [LN] -> fc1 -> ReLU -> fc2 -> residual [-> LN]
#include <fmt/format.h>

#include "kernels/ops.h"
#include "model/arch.h"
#include "model/forward_common.h"

namespace sp::model {
namespace {

// transformers builds decoder.final_layer_norm only for pre-LN models without _remove_final_layer_norm.
bool has_final_norm(const io::ModelConfig& c) {
  return c.norm_before && !c.raw.value("_remove_final_layer_norm", false);
}

std::vector<TensorSpec> global_specs(const io::ModelConfig& c) {
  const int64_t h = c.hidden, v = c.vocab;
  std::vector<TensorSpec> s = {
      {Role::TokenEmbed, "model.decoder.embed_tokens.weight", {v, h}},
      {Role::PositionEmbed, "model.decoder.embed_positions.weight", {int64_t(c.max_positions) + c.position_offset, h}},
  };
  if (has_final_norm(c)) {
    s.push_back({Role::FinalNormWeight, "model.decoder.final_layer_norm.weight", {h}});
    s.push_back({Role::FinalNormBias, "model.decoder.final_layer_norm.bias", {h}});
  }
  if (!c.tie_embeddings) s.push_back({Role::LmHead, "lm_head.weight", {v, h}});
  return s;
}

std::vector<TensorSpec> layer_specs(const io::ModelConfig& c, int i) {
  const io::LayerShape& l = c.layers.at(size_t(i));
  const int64_t h = c.hidden, q = int64_t(l.n_heads) * c.head_dim, f = l.intermediate;
  auto n = [i](const char* suffix) { return fmt::format("model.decoder.layers.{}.{}", i, suffix); };
  std::vector<TensorSpec> s = {
      {Role::AttnNormWeight, n("self_attn_layer_norm.weight"), {h}},
      {Role::AttnNormBias, n("self_attn_layer_norm.bias"), {h}},
      {Role::MlpNormWeight, n("final_layer_norm.weight"), {h}},
      {Role::MlpNormBias, n("final_layer_norm.bias"), {h}},
  };
  if (l.n_heads > 0) {
    s.push_back({Role::QWeight, n("self_attn.q_proj.weight"), {q, h}});
    s.push_back({Role::KWeight, n("self_attn.k_proj.weight"), {q, h}});
    s.push_back({Role::VWeight, n("self_attn.v_proj.weight"), {q, h}});
    s.push_back({Role::OWeight, n("self_attn.out_proj.weight"), {h, q}});
    if (c.qkv_bias) {
      s.push_back({Role::QBias, n("self_attn.q_proj.bias"), {q}});
      s.push_back({Role::KBias, n("self_attn.k_proj.bias"), {q}});
      s.push_back({Role::VBias, n("self_attn.v_proj.bias"), {q}});
    }
  }
  if (c.o_bias) s.push_back({Role::OBias, n("self_attn.out_proj.bias"), {h}});
  if (f > 0) {
    s.push_back({Role::UpWeight, n("fc1.weight"), {f, h}});
    s.push_back({Role::DownWeight, n("fc2.weight"), {h, f}});
    if (c.mlp_bias) s.push_back({Role::UpBias, n("fc1.bias"), {f}});
  }
  if (c.mlp_bias) s.push_back({Role::DownBias, n("fc2.bias"), {h}});
  return s;
}

void forward_layer(const LayerCall& c) {
  const LayerWeights& w = c.w;
  const float eps = c.cfg.norm_eps;
  const bool pre = c.cfg.norm_before;
  Tensor& x = c.hidden;
  Tensor h;
  if (!c.from_mid) {
    h = pre ? ops::layer_norm(c.ctx, x, w.attn_norm_w, w.attn_norm_b, eps) : x;
    if (tap(c, TapPoint::AttnIn, h)) return;
    if (attention_residual(c, h, /*rotary=*/false)) return;
    if (!pre) x.copy_from(ops::layer_norm(c.ctx, x, w.attn_norm_w, w.attn_norm_b, eps));
    if (tap(c, TapPoint::MidResid, x)) return;
  }

  h = pre ? ops::layer_norm(c.ctx, x, w.mlp_norm_w, w.mlp_norm_b, eps) : x;
  if (tap(c, TapPoint::MlpIn, h)) return;
  Tensor act;
  if (w.shape.intermediate > 0) {
    act = ops::linear(c.ctx, h, w.up_w, w.up_b, c.precision);
    ops::relu_(c.ctx, act);
  }
  if (down_residual(c, act)) return;
  if (!pre) x.copy_from(ops::layer_norm(c.ctx, x, w.mlp_norm_w, w.mlp_norm_b, eps));
  tap(c, TapPoint::LayerOut, x);
}

Tensor embed(ExecContext& ctx, const io::ModelConfig& c, const GlobalWeights& g, const Tensor& ids,
             const Tensor& positions) {
  Tensor x = ops::embedding(ctx, g.token_embed, ids);
  // Learned positions live at row position + offset (2): shift on the host, a few ints.
  Tensor p = positions.to(Device::cpu());
  for (int64_t i = 0; i < p.numel(); ++i) {
    SP_REQUIRE(p.data<int32_t>()[i] < c.max_positions, "position {} exceeds OPT's max_position_embeddings {}",
               p.data<int32_t>()[i], c.max_positions);
    p.data<int32_t>()[i] += c.position_offset;
  }
  ops::add_(ctx, x, ops::embedding(ctx, g.position_embed, p.to(ctx.device())));
  return x;
}

}  // namespace

const Arch& opt_arch() {
  static const Arch a{io::ArchFamily::Opt, "opt", global_specs, layer_specs, {}, forward_layer, embed};
  return a;
}

}  // namespace sp::model
