#include "model/forward_common.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"

namespace sp::model {

bool tap(const LayerCall& c, TapPoint at, const Tensor& x) {
  if (c.tap && *c.tap) (*c.tap)(c.layer, at, x);
  return c.stop_after == at;
}

Tensor self_attention(const LayerCall& c, const Tensor& h, bool rotary) {
  const io::LayerShape& ls = c.w.shape;
  const int hd = c.cfg.head_dim;
  Tensor q = ops::linear(c.ctx, h, c.w.q_w, c.w.q_b, c.precision);
  Tensor k = ops::linear(c.ctx, h, c.w.k_w, c.w.k_b, c.precision);
  Tensor v = ops::linear(c.ctx, h, c.w.v_w, c.w.v_b, c.precision);
  if (c.w.q_norm_w.defined()) {  // one RMSNorm over each head's head_dim entries
    const float eps = c.cfg.norm_eps, off = c.cfg.norm_offset;
    q = ops::rms_norm(c.ctx, q.reshape({q.dim(0) * ls.n_heads, hd}), c.w.q_norm_w, eps, off).reshape(q.shape());
    k = ops::rms_norm(c.ctx, k.reshape({k.dim(0) * ls.n_kv_heads, hd}), c.w.k_norm_w, eps, off).reshape(k.shape());
  }
  if (rotary) {
    // Positions run from the cache's length: the largest is that plus seqlen - 1.
    const int seq_len = (c.cache ? c.cache->len : 0) + c.seqlen;
    const bool sliding = c.cfg.window_of(c.layer) > 0;  // Gemma 3: sliding layers have their own RoPE
    RopeTable own;
    const RopeTable* rt = c.rope ? c.rope->for_call(c.cfg, seq_len, sliding) : nullptr;
    if (rt == nullptr) {
      own = rope_table(c.cfg, seq_len, sliding);
      rt = &own;
    }
    const auto af = float(rt->attention_factor);
    const int rd = c.cfg.rope_dim();
    ops::rope_(c.ctx, q, c.positions, ls.n_heads, hd, rd, rt->inv_freq_f32, af);
    ops::rope_(c.ctx, k, c.positions, ls.n_kv_heads, hd, rd, rt->inv_freq_f32, af);
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
  if (c.cache == nullptr) {
    s.kv_len = s.kv_stride = c.seqlen;
    s.q_offset = 0;
  } else {
    LayerKvCache& kv = *c.cache;
    SP_REQUIRE(kv.recorded || kv.len + c.seqlen <= kv.capacity,
               "KV cache of layer {} is full: {} + {} tokens > capacity {}", c.layer, kv.len, c.seqlen, kv.capacity);
    // Rows and lengths from the positions on the device (the cache's len + 0..seqlen-1 here), so a
    // recorded step replays at any position.
    ops::kv_cache_write_(c.ctx, kv.k, k, c.positions, c.seqlen);
    ops::kv_cache_write_(c.ctx, kv.v, v, c.positions, c.seqlen);
    s.kv_len = kv.recorded ? kv.capacity : kv.len + c.seqlen;
    s.kv_stride = kv.capacity;
    s.positions = &c.positions;
    k = kv.k;
    v = kv.v;
  }
  Tensor out = ops::attention(c.ctx, q, k, v, s);
  if (c.cache && !c.cache->recorded) c.cache->len += c.seqlen;
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
