// LLaMA family (llama, mistral, qwen2, qwen3, phi3): tensor table and decoder-layer forward.
//   RMSNorm -> q, k, v (+bias) [-> per-head RMSNorm of q, k (qwen3)] -> RoPE -> causal GQA
//   attention (sliding window per layer where configured) -> o_proj -> residual
//   RMSNorm -> silu(gate) * up -> down -> residual
// Phi-3 / Phi-4 compute the same; their checkpoints store q, k, v as the rows of one
// self_attn.qkv_proj and gate, up as the two halves of mlp.gate_up_proj (transformers' Phi3MLP:
// gate_up_proj(x).chunk(2) gives gate first).
#include <fmt/format.h>

#include "kernels/ops.h"
#include "model/arch.h"
#include "model/forward_common.h"

namespace sp::model {
std::vector<TensorSpec> decoder_global_specs(const io::ModelConfig& c) {
  const int64_t h = c.hidden, v = c.vocab;
  std::vector<TensorSpec> s = {
      {Role::TokenEmbed, "model.embed_tokens.weight", {v, h}},
      {Role::FinalNormWeight, "model.norm.weight", {h}},
  };
  if (!c.tie_embeddings) s.push_back({Role::LmHead, "lm_head.weight", {v, h}});
  return s;
}

void append_separate_projections(const io::ModelConfig& c, int i, std::vector<TensorSpec>& s) {
  const io::LayerShape& l = c.layers.at(size_t(i));
  const int64_t h = c.hidden, q = int64_t(l.n_heads) * c.head_dim, kv = int64_t(l.n_kv_heads) * c.head_dim,
                f = l.intermediate;
  auto n = [i](const char* suffix) { return fmt::format("model.layers.{}.{}", i, suffix); };
  // A layer pruned to zero heads / neurons has no attention / MLP matrices at all.
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
    if (c.qk_norm) {  // one [head_dim] weight shared by all heads: pruning heads leaves it whole
      s.push_back({Role::QNormWeight, n("self_attn.q_norm.weight"), {c.head_dim}});
      s.push_back({Role::KNormWeight, n("self_attn.k_norm.weight"), {c.head_dim}});
    }
  }
  if (c.o_bias) s.push_back({Role::OBias, n("self_attn.o_proj.bias"), {h}});
  if (f > 0) {
    s.push_back({Role::GateWeight, n("mlp.gate_proj.weight"), {f, h}});
    s.push_back({Role::UpWeight, n("mlp.up_proj.weight"), {f, h}});
    s.push_back({Role::DownWeight, n("mlp.down_proj.weight"), {h, f}});
    if (c.mlp_bias) {
      s.push_back({Role::GateBias, n("mlp.gate_proj.bias"), {f}});
      s.push_back({Role::UpBias, n("mlp.up_proj.bias"), {f}});
    }
  }
  if (c.mlp_bias) s.push_back({Role::DownBias, n("mlp.down_proj.bias"), {h}});
}

namespace {

std::vector<TensorSpec> layer_specs(const io::ModelConfig& c, int i) {
  const io::LayerShape& l = c.layers.at(size_t(i));
  const int64_t h = c.hidden, q = int64_t(l.n_heads) * c.head_dim, kv = int64_t(l.n_kv_heads) * c.head_dim,
                f = l.intermediate;
  auto n = [i](const char* suffix) { return fmt::format("model.layers.{}.{}", i, suffix); };
  std::vector<TensorSpec> s = {
      {Role::AttnNormWeight, n("input_layernorm.weight"), {h}},
      {Role::MlpNormWeight, n("post_attention_layernorm.weight"), {h}},
  };
  // A layer pruned to zero heads / neurons has no attention / MLP matrices at all.
  if (c.fused_projections) {
    if (l.n_heads > 0) {
      const std::string qkv = n("self_attn.qkv_proj.weight");
      s.push_back({Role::QWeight, qkv, {q, h}, 0, q + 2 * kv});
      s.push_back({Role::KWeight, qkv, {kv, h}, q, q + 2 * kv});
      s.push_back({Role::VWeight, qkv, {kv, h}, q + kv, q + 2 * kv});
      s.push_back({Role::OWeight, n("self_attn.o_proj.weight"), {h, q}});
    }
    if (f > 0) {
      const std::string gate_up = n("mlp.gate_up_proj.weight");
      s.push_back({Role::GateWeight, gate_up, {f, h}, 0, 2 * f});
      s.push_back({Role::UpWeight, gate_up, {f, h}, f, 2 * f});
      s.push_back({Role::DownWeight, n("mlp.down_proj.weight"), {h, f}});
    }
    return s;  // no biases (parse_model_config clears the flags for phi3)
  }
  append_separate_projections(c, i, s);
  return s;
}

void forward_layer(const LayerCall& c) {
  const LayerWeights& w = c.w;
  Tensor& x = c.hidden;
  Tensor h;
  if (c.from_mid) {
    h = ops::rms_norm(c.ctx, x, w.mlp_norm_w, c.cfg.norm_eps);
  } else {
    h = ops::rms_norm(c.ctx, x, w.attn_norm_w, c.cfg.norm_eps);
    if (tap(c, TapPoint::AttnIn, h)) return;
    Tensor out;
    if (attention_output(c, h, /*rotary=*/true, out)) return;
    if (c.stop_after == TapPoint::MidResid) {  // the residual is all the caller wants
      if (out.defined()) ops::add_(c.ctx, x, out);
      tap(c, TapPoint::MidResid, x);
      return;
    }
    // The residual add and the MLP's norm in one op (the same values as add_ then rms_norm).
    h = out.defined() ? ops::add_rms_norm_(c.ctx, x, out, w.mlp_norm_w, c.cfg.norm_eps)
                      : ops::rms_norm(c.ctx, x, w.mlp_norm_w, c.cfg.norm_eps);
    tap(c, TapPoint::MidResid, x);
  }
  if (tap(c, TapPoint::MlpIn, h)) return;
  if (down_residual(c, gated_mlp_act(c, h, ops::GateAct::kSilu))) return;
  tap(c, TapPoint::LayerOut, x);
}

Tensor embed(ExecContext& ctx, const io::ModelConfig&, const GlobalWeights& g, const Tensor& ids, const Tensor&) {
  return ops::embedding(ctx, g.token_embed, ids);
}

}  // namespace

const Arch& llama_arch() {
  static const Arch a{io::ArchFamily::Llama, "llama", decoder_global_specs, layer_specs, {"rotary_emb.inv_freq"},
                      forward_layer,         embed};
  return a;
}

}  // namespace sp::model
