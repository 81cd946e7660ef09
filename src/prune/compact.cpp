#include "prune/compact.h"

#include <numeric>
#include <vector>

#include "core/error.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"
#include "prune/obs.h"

namespace sp::prune {
namespace {

using model::LayerWeights;
using model::Role;

Tensor rows_of(ExecContext& ctx, const Tensor& t, const Tensor& idx) {
  if (!t.defined()) return t;
  if (t.ndim() == 1) return ops::select_rows(ctx, t.reshape({t.dim(0), 1}), idx).reshape({idx.dim(0)});
  return ops::select_rows(ctx, t, idx);
}

Tensor expand_rows_of(ExecContext& ctx, const Tensor& t, const Tensor& idx, int64_t rows) {
  if (!t.defined()) return t;
  if (t.ndim() == 1) return ops::expand_rows(ctx, t.reshape({t.dim(0), 1}), idx, rows).reshape({rows});
  return ops::expand_rows(ctx, t, idx, rows);
}

Tensor as_dtype(ExecContext& ctx, const Tensor& t, DType dt) {
  if (!t.defined() || t.dtype() == dt) return t;
  return ops::convert(ctx, t, dt);
}

std::vector<int32_t> iota(int n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

std::vector<int32_t> kept_q_rows(const AttentionLayout& layout, const std::vector<int32_t>& kept) {
  std::vector<int32_t> rows;
  for (int32_t u : kept) rows.insert(rows.end(), layout.q_rows[size_t(u)].begin(), layout.q_rows[size_t(u)].end());
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::vector<int32_t> kept_kv_rows(const AttentionLayout& layout, const std::vector<int32_t>& kept, int n_kv_rows) {
  if (layout.kv_rows_per_unit == 0) return iota(n_kv_rows);  // query_per_group keeps every KV head
  std::vector<int32_t> rows;
  for (int32_t u : kept) rows.insert(rows.end(), layout.kv_rows[size_t(u)].begin(), layout.kv_rows[size_t(u)].end());
  std::sort(rows.begin(), rows.end());
  return rows;
}

LayerWeights prune_attention(ExecContext& ctx, const io::ModelConfig& cfg, AttentionUnit unit, const LayerWeights& w,
                             const ModuleEdit& e) {
  const AttentionLayout layout = attention_layout(cfg, w.layer, unit);
  LayerWeights out = w;
  io::ModelConfig c = cfg;
  c.layers[size_t(w.layer)] = w.shape;
  out.shape = pruned_shape(c, w.layer, unit, int(e.kept.size()), w.shape.intermediate);
  if (e.consumer_bias.defined()) out.o_b = as_dtype(ctx, e.consumer_bias, w.o_w.dtype());
  if (e.kept.empty()) {
    out.q_w = out.k_w = out.v_w = out.o_w = out.q_b = out.k_b = out.v_b = Tensor();
    out.q_norm_w = out.k_norm_w = Tensor();  // a layer without heads has no attention tensors at all
    return out;
  }
  const Tensor q = index_tensor(ctx, kept_q_rows(layout, e.kept));
  const Tensor kv = index_tensor(ctx, kept_kv_rows(layout, e.kept, int(w.k_w.dim(0))));
  out.q_w = rows_of(ctx, w.q_w, q);
  out.q_b = rows_of(ctx, w.q_b, q);
  out.k_w = rows_of(ctx, w.k_w, kv);
  out.k_b = rows_of(ctx, w.k_b, kv);
  out.v_w = rows_of(ctx, w.v_w, kv);
  out.v_b = rows_of(ctx, w.v_b, kv);
  out.o_w = e.consumer.defined() ? as_dtype(ctx, e.consumer, w.o_w.dtype()) : ops::select_cols(ctx, w.o_w, q);
  SP_CHECK(out.o_w.dim(1) == q.dim(0), "refit o_proj has {} columns, {} kept", out.o_w.dim(1), q.dim(0));
  return out;
}

LayerWeights prune_mlp(ExecContext& ctx, const LayerWeights& w, const ModuleEdit& e) {
  LayerWeights out = w;
  out.shape.intermediate = int(e.kept.size());
  if (e.consumer_bias.defined()) out.down_b = as_dtype(ctx, e.consumer_bias, w.down_w.dtype());
  if (e.kept.empty()) {
    out.gate_w = out.gate_b = out.up_w = out.up_b = out.down_w = Tensor();
    return out;
  }
  const Tensor k = index_tensor(ctx, e.kept);
  out.gate_w = rows_of(ctx, w.gate_w, k);
  out.gate_b = rows_of(ctx, w.gate_b, k);
  out.up_w = rows_of(ctx, w.up_w, k);
  out.up_b = rows_of(ctx, w.up_b, k);
  out.down_w = e.consumer.defined() ? as_dtype(ctx, e.consumer, w.down_w.dtype()) : ops::select_cols(ctx, w.down_w, k);
  SP_CHECK(out.down_w.dim(1) == k.dim(0), "refit down_proj has {} columns, {} kept", out.down_w.dim(1), k.dim(0));
  return out;
}

LayerWeights convert_layer(ExecContext& ctx, const LayerWeights& w, DType dt) {
  LayerWeights out = w;
  for (Role r : model::kLayerRoles) out.at(r) = as_dtype(ctx, w.at(r), dt);
  return out;
}

LayerWeights expand_to_dense(ExecContext& ctx, const io::ModelConfig& original, AttentionUnit unit,
                             const LayerWeights& compact, const std::vector<int32_t>& kept_attention,
                             const std::vector<int32_t>& kept_mlp) {
  const int l = compact.layer;
  const io::LayerShape& dense = original.layers[size_t(l)];
  LayerWeights out = compact;
  out.shape = dense;
  const int64_t q_rows = int64_t(dense.n_heads) * original.head_dim,
                kv_rows = int64_t(dense.n_kv_heads) * original.head_dim;
  const DType dt = compact.attn_norm_w.dtype();
  const Device dev = ctx.device();
  const int64_t h = original.hidden;
  if (compact.shape.n_heads != dense.n_heads || compact.shape.n_kv_heads != dense.n_kv_heads) {
    if (!compact.q_w.defined()) {  // every unit removed: zeros of the dense shapes
      out.q_w = Tensor::zeros({q_rows, h}, dt, dev);
      out.k_w = Tensor::zeros({kv_rows, h}, dt, dev);
      out.v_w = Tensor::zeros({kv_rows, h}, dt, dev);
      out.o_w = Tensor::zeros({h, q_rows}, dt, dev);
      if (original.qkv_bias) {
        out.q_b = Tensor::zeros({q_rows}, dt, dev);
        out.k_b = Tensor::zeros({kv_rows}, dt, dev);
        out.v_b = Tensor::zeros({kv_rows}, dt, dev);
      }
      if (original.qk_norm) {  // normalises zero queries / keys: any weight; ones (the initial value)
        const std::vector<float> ones(size_t(original.head_dim), 1.f);
        out.q_norm_w = as_dtype(ctx, Tensor::from_f32(ones, {original.head_dim}).to(dev), dt);
        out.k_norm_w = out.q_norm_w.clone();
      }
    } else {
      const AttentionLayout layout = attention_layout(original, l, unit);
      const Tensor q = index_tensor(ctx, kept_q_rows(layout, kept_attention));
      const Tensor kv = index_tensor(ctx, kept_kv_rows(layout, kept_attention, int(kv_rows)));
      out.q_w = expand_rows_of(ctx, compact.q_w, q, q_rows);
      out.q_b = expand_rows_of(ctx, compact.q_b, q, q_rows);
      out.k_w = expand_rows_of(ctx, compact.k_w, kv, kv_rows);
      out.k_b = expand_rows_of(ctx, compact.k_b, kv, kv_rows);
      out.v_w = expand_rows_of(ctx, compact.v_w, kv, kv_rows);
      out.v_b = expand_rows_of(ctx, compact.v_b, kv, kv_rows);
      out.o_w = ops::expand_cols(ctx, compact.o_w, q, q_rows);
    }
  }
  if (compact.shape.intermediate != dense.intermediate) {
    const int64_t f = dense.intermediate;
    if (!compact.up_w.defined()) {
      out.up_w = Tensor::zeros({f, h}, dt, dev);
      out.down_w = Tensor::zeros({h, f}, dt, dev);
      if (original.family != io::ArchFamily::Opt) out.gate_w = Tensor::zeros({f, h}, dt, dev);
      if (original.mlp_bias) {
        out.up_b = Tensor::zeros({f}, dt, dev);
        if (original.family != io::ArchFamily::Opt) out.gate_b = Tensor::zeros({f}, dt, dev);
      }
      return out;
    }
    const Tensor k = index_tensor(ctx, kept_mlp);
    out.gate_w = expand_rows_of(ctx, compact.gate_w, k, dense.intermediate);
    out.gate_b = expand_rows_of(ctx, compact.gate_b, k, dense.intermediate);
    out.up_w = expand_rows_of(ctx, compact.up_w, k, dense.intermediate);
    out.up_b = expand_rows_of(ctx, compact.up_b, k, dense.intermediate);
    out.down_w = ops::expand_cols(ctx, compact.down_w, k, dense.intermediate);
  }
  return out;
}

}  // namespace sp::prune
