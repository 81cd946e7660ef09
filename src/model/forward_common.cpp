#include "model/forward_common.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"

namespace sp::model {

bool tap(const LayerCall& c, TapPoint at, const Tensor& x) {
  if (c.tap && *c.tap) (*c.tap)(c.layer, at, x);
  return c.stop_after == at;
}

namespace {

// The RoPE table of this call: the model's cached one when it covers the positions, else `own`.
const RopeTable& rope_table_of(const LayerCall& c, RopeTable& own) {
  // Positions run from the cache's length: the largest is that plus seqlen - 1.
  const int seq_len = (c.cache ? c.cache->len : 0) + c.seqlen;
  const bool sliding = c.cfg.window_of(c.layer) > 0;  // Gemma 3: sliding layers have their own RoPE
  const RopeTable* rt = c.rope ? c.rope->for_call(c.cfg, seq_len, sliding) : nullptr;
  if (rt != nullptr) return *rt;
  own = rope_table(c.cfg, seq_len, sliding);
  return own;
}

}  // namespace

Tensor self_attention(const LayerCall& c, const Tensor& h, bool rotary) {
  const io::LayerShape& ls = c.w.shape;
  const int hd = c.cfg.head_dim;
  LayerKvCache* kv = c.cache;
  if (kv != nullptr)
    SP_REQUIRE(kv->recorded || kv->len + c.seqlen <= kv->capacity,
               "KV cache of layer {} is full: {} + {} tokens > capacity {}", c.layer, kv->len, c.seqlen, kv->capacity);
  RopeTable own;
  const RopeTable* rt = rotary ? &rope_table_of(c, own) : nullptr;
  const ops::RopeArgs ra{ls.n_heads,
                         ls.n_kv_heads,
                         hd,
                         c.cfg.rope_dim(),
                         rt ? &rt->inv_freq_f32 : nullptr,
                         rt ? float(rt->attention_factor) : 1.f};
  // Cache rows and lengths come from the positions on the device (the cache's len + 0..seqlen-1
  // here), so a recorded step replays at any position.
  Tensor q, k, v;
  if (kv != nullptr && rt != nullptr && c.w.qkv_w.defined() && !c.w.q_norm_w.defined()) {
    // Stacked weights (inference): one product, then rotation and cache append in one op.
    q = ops::rope_kv_write(c.ctx, ops::linear(c.ctx, h, c.w.qkv_w, c.w.qkv_b, c.precision), c.positions, c.seqlen, ra,
                           kv->k, kv->v);
  } else {
    q = ops::linear(c.ctx, h, c.w.q_w, c.w.q_b, c.precision);
    k = ops::linear(c.ctx, h, c.w.k_w, c.w.k_b, c.precision);
    v = ops::linear(c.ctx, h, c.w.v_w, c.w.v_b, c.precision);
    if (c.w.q_norm_w.defined()) {  // one RMSNorm over each head's head_dim entries
      const float eps = c.cfg.norm_eps, off = c.cfg.norm_offset;
      q = ops::rms_norm(c.ctx, q.reshape({q.dim(0) * ls.n_heads, hd}), c.w.q_norm_w, eps, off).reshape(q.shape());
      k = ops::rms_norm(c.ctx, k.reshape({k.dim(0) * ls.n_kv_heads, hd}), c.w.k_norm_w, eps, off).reshape(k.shape());
    }
    if (rt != nullptr) {
      ops::rope_(c.ctx, q, c.positions, ls.n_heads, hd, ra.rotary_dim, rt->inv_freq_f32, ra.attention_factor);
      ops::rope_(c.ctx, k, c.positions, ls.n_kv_heads, hd, ra.rotary_dim, rt->inv_freq_f32, ra.attention_factor);
    }
    if (kv != nullptr) {
      ops::kv_cache_write_(c.ctx, kv->k, k, c.positions, c.seqlen);
      ops::kv_cache_write_(c.ctx, kv->v, v, c.positions, c.seqlen);
    }
  }
  ops::AttentionShape s;
  s.batch = c.batch;
  s.q_len = c.seqlen;
  s.n_heads = ls.n_heads;
  s.n_kv_heads = ls.n_kv_heads;
  s.head_dim = hd;
  s.scale = c.cfg.query_pre_attn_scalar > 0 ? float(1.0 / std::sqrt(c.cfg.query_pre_attn_scalar))
                                            : 1.f / std::sqrt(float(hd));
  s.window = c.cfg.window_of(c.layer);
  s.softcap = c.cfg.attn_softcap;
  if (kv == nullptr) {
    s.kv_len = s.kv_stride = c.seqlen;
    s.q_offset = 0;
  } else {
    s.kv_len = kv->recorded ? kv->capacity : kv->len + c.seqlen;
    s.kv_stride = kv->capacity;
    s.positions = &c.positions;
    k = kv->k;
    v = kv->v;
  }
  Tensor out = ops::attention(c.ctx, q, k, v, s);
  if (kv && !kv->recorded) kv->len += c.seqlen;
  return out;
}

bool attention_output(const LayerCall& c, const Tensor& h, bool rotary, Tensor& out) {
  out = Tensor();
  if (c.w.shape.n_heads > 0) {
    Tensor a = self_attention(c, h, rotary);
    if (tap(c, TapPoint::AttnOIn, a)) return true;
    out = ops::linear(c.ctx, a, c.w.o_w, c.w.o_b, c.precision);
  } else if (c.w.o_b.defined()) {
    out = bias_rows(c.ctx, c.w.o_b, c.hidden.dim(0));
  }
  return false;
}

bool attention_residual(const LayerCall& c, const Tensor& h, bool rotary) {
  Tensor out;
  if (attention_output(c, h, rotary, out)) return true;
  if (out.defined()) ops::add_(c.ctx, c.hidden, out);
  return false;
}

Tensor gated_mlp_act(const LayerCall& c, const Tensor& h, ops::GateAct act) {
  const LayerWeights& w = c.w;
  if (w.gate_up_w.defined())
    return ops::gated_act(c.ctx, ops::linear(c.ctx, h, w.gate_up_w, w.gate_up_b, c.precision), act);
  if (w.shape.intermediate == 0) return Tensor();
  return ops::gated_act(c.ctx, ops::linear(c.ctx, h, w.gate_w, w.gate_b, c.precision),
                        ops::linear(c.ctx, h, w.up_w, w.up_b, c.precision), act);
}

bool down_output(const LayerCall& c, const Tensor& act, Tensor& out) {
  out = Tensor();
  if (act.defined()) {
    if (tap(c, TapPoint::MlpDownIn, act)) return true;
    out = ops::linear(c.ctx, act, c.w.down_w, c.w.down_b, c.precision);
  } else if (c.w.down_b.defined()) {
    out = bias_rows(c.ctx, c.w.down_b, c.hidden.dim(0));
  }
  return false;
}

bool down_residual(const LayerCall& c, const Tensor& act) {
  Tensor out;
  if (down_output(c, act, out)) return true;
  if (out.defined()) ops::add_(c.ctx, c.hidden, out);
  return false;
}

Tensor bias_rows(ExecContext& ctx, const Tensor& bias, int64_t m) {
  // Broadcast by gathering row 0 of a one-row table m times: no extra op needed.
  return ops::embedding(ctx, bias.reshape({1, bias.dim(0)}), Tensor::zeros({m}, DType::I32, ctx.device()));
}

}  // namespace sp::model
