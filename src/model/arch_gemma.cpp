// Gemma family (gemma2, gemma3_text): tensor table and decoder-layer forward, as transformers'
// Gemma2DecoderLayer / Gemma3DecoderLayer compute it. Every RMSNorm multiplies by (1 + w).
//   embed * sqrt(hidden)
//   RMSNorm -> q, k, v (Gemma 3: per-head q/k RMSNorm) -> RoPE (Gemma 3: the layer type's) ->
//     causal GQA attention, scale query_pre_attn_scalar^-0.5, sliding window on sliding layers,
//     score soft-cap (Gemma 2) -> o_proj -> RMSNorm -> residual
//   RMSNorm -> gelu_tanh(gate) * up -> down -> RMSNorm -> residual
//   final RMSNorm -> lm_head (tied by default) -> logit soft-cap (Model::logits)
#include <fmt/format.h>

#include <cmath>

#include "kernels/ops.h"
#include "model/arch.h"
#include "model/forward_common.h"

namespace sp::model {
namespace {

std::vector<TensorSpec> layer_specs(const io::ModelConfig& c, int i) {
  const int64_t h = c.hidden;
  auto n = [i](const char* suffix) { return fmt::format("model.layers.{}.{}", i, suffix); };
  // The four norms stay when pruning empties a block: they are cheap and stock layers have them.
  std::vector<TensorSpec> s = {
      {Role::AttnNormWeight, n("input_layernorm.weight"), {h}},
      {Role::AttnPostNormWeight, n("post_attention_layernorm.weight"), {h}},
      {Role::MlpNormWeight, n("pre_feedforward_layernorm.weight"), {h}},
      {Role::MlpPostNormWeight, n("post_feedforward_layernorm.weight"), {h}},
  };
  append_separate_projections(c, i, s);  // attention_bias as LLaMA; never MLP biases (mlp_bias stays off)
  return s;
}

// x += RMSNorm(out), the sandwich norm of a block's output (nothing when the block has no output).
void add_normed(const LayerCall& c, const Tensor& out, const Tensor& norm_w) {
  if (out.defined()) ops::add_(c.ctx, c.hidden, ops::rms_norm(c.ctx, out, norm_w, c.cfg.norm_eps, c.cfg.norm_offset));
}

void forward_layer(const LayerCall& c) {
  const LayerWeights& w = c.w;
  const float eps = c.cfg.norm_eps, off = c.cfg.norm_offset;
  Tensor& x = c.hidden;
  Tensor h, out;
  if (!c.from_mid) {
    h = ops::rms_norm(c.ctx, x, w.attn_norm_w, eps, off);
    if (tap(c, TapPoint::AttnIn, h)) return;
    if (attention_output(c, h, /*rotary=*/true, out)) return;
    add_normed(c, out, w.attn_post_norm_w);
    if (tap(c, TapPoint::MidResid, x)) return;
  }

  h = ops::rms_norm(c.ctx, x, w.mlp_norm_w, eps, off);
  if (tap(c, TapPoint::MlpIn, h)) return;
  if (down_output(c, gated_mlp_act(c, h, ops::GateAct::kGeluTanh), out)) return;
  add_normed(c, out, w.mlp_post_norm_w);
  tap(c, TapPoint::LayerOut, x);
}

// As Gemma's scaled embedding: the factor sqrt(hidden) is an fp32 tensor cast to the weights' dtype.
Tensor embed(ExecContext& ctx, const io::ModelConfig& c, const GlobalWeights& g, const Tensor& ids, const Tensor&) {
  Tensor x = ops::embedding(ctx, g.token_embed, ids);
  ops::scale_(ctx, x, float(std::sqrt(double(c.hidden))));
  return x;
}

}  // namespace

const Arch& gemma_arch() {
  static const Arch a{io::ArchFamily::Gemma, "gemma", decoder_global_specs, layer_specs, {"rotary_emb.inv_freq"},
                      forward_layer,         embed};
  return a;
}

}  // namespace sp::model
