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

std::vector<TensorSpec> global_specs(const io::ModelConfig& c) {
  const int64_t h = c.hidden, v = c.vocab;
  std::vector<TensorSpec> s = {
      {Role::TokenEmbed, "model.embed_tokens.weight", {v, h}},
      {Role::FinalNormWeight, "model.norm.weight", {h}},
  };
  if (!c.tie_embeddings) s.push_back({Role::LmHead, "lm_head.weight", {v, h}});
  return s;
}

std::vector<TensorSpec> layer_specs(const io::ModelConfig& c, int i) {
  const io::LayerShape& l = c.layers.at(size_t(i));
  const int64_t h = c.hidden, hd = c.head_dim, q = int64_t(l.n_heads) * hd, kv = int64_t(l.n_kv_heads) * hd,
                f = l.intermediate;
  auto n = [i](const char* suffix) { return fmt::format("model.layers.{}.{}", i, suffix); };
  // The four norms stay when pruning empties a block: they are cheap and stock layers have them.
  std::vector<TensorSpec> s = {
      {Role::AttnNormWeight, n("input_layernorm.weight"), {h}},
      {Role::AttnPostNormWeight, n("post_attention_layernorm.weight"), {h}},
      {Role::MlpNormWeight, n("pre_feedforward_layernorm.weight"), {h}},
      {Role::MlpPostNormWeight, n("post_feedforward_layernorm.weight"), {h}},
  };
  if (l.n_heads > 0) {
    s.push_back({Role::QWeight, n("self_attn.q_proj.weight"), {q, h}});
    s.push_back({Role::KWeight, n("self_attn.k_proj.weight"), {kv, h}});
    s.push_back({Role::VWeight, n("self_attn.v_proj.weight"), {kv, h}});
    s.push_back({Role::OWeight, n("self_attn.o_proj.weight"), {h, q}});
    if (c.qkv_bias) {
      s.push_back({Role::QBias, n("self_attn.q_proj.bias"), {q}});
      s.push_back({Role::KBias, n("self_attn.k_proj.bias"), {kv}});
      s.push_back({Role::VBias, n("self_attn.v_proj.bias"), {kv}});
    }
    if (c.qk_norm) {
      s.push_back({Role::QNormWeight, n("self_attn.q_norm.weight"), {hd}});
      s.push_back({Role::KNormWeight, n("self_attn.k_norm.weight"), {hd}});
    }
  }
  if (c.o_bias) s.push_back({Role::OBias, n("self_attn.o_proj.bias"), {h}});
  if (f > 0) {
    s.push_back({Role::GateWeight, n("mlp.gate_proj.weight"), {f, h}});
    s.push_back({Role::UpWeight, n("mlp.up_proj.weight"), {f, h}});
    s.push_back({Role::DownWeight, n("mlp.down_proj.weight"), {h, f}});
  }
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
    if (tap(c, "attn_in", h)) return;
    if (attention_output(c, h, /*rotary=*/true, out)) return;
    add_normed(c, out, w.attn_post_norm_w);
    if (tap(c, kMidResidual, x)) return;
  }

  h = ops::rms_norm(c.ctx, x, w.mlp_norm_w, eps, off);
  if (tap(c, "mlp_in", h)) return;
  Tensor act;
  if (w.shape.intermediate > 0) {
    act = ops::gated_act(c.ctx, ops::linear(c.ctx, h, w.gate_w, w.gate_b, c.precision),
                         ops::linear(c.ctx, h, w.up_w, w.up_b, c.precision), ops::GateAct::kGeluTanh);
  }
  if (down_output(c, act, out)) return;
  add_normed(c, out, w.mlp_post_norm_w);
  tap(c, "layer_out", x);
}

// As Gemma's scaled embedding: the factor sqrt(hidden) is an fp32 tensor cast to the weights' dtype.
Tensor embed(ExecContext& ctx, const io::ModelConfig& c, const GlobalWeights& g, const Tensor& ids, const Tensor&) {
  Tensor x = ops::embedding(ctx, g.token_embed, ids);
  ops::scale_(ctx, x, float(std::sqrt(double(c.hidden))));
  return x;
}

}  // namespace

const Arch& gemma_arch() {
  static const Arch a{io::ArchFamily::Gemma,   "gemma",       global_specs, layer_specs,
                      {"rotary_emb.inv_freq"}, forward_layer, embed};
  return a;
}

}  // namespace sp::model
