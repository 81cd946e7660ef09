#include "model/model.h"

#include <fmt/ranges.h>

#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"

namespace sp::model {

// The MLP widened by zero producer rows (their activation is act(0) * 0 or act(0) = 0 for SiLU /
// GELU / ReLU, with zero biases) that meet zero consumer columns.
LayerWeights with_padded_mlp(ExecContext& ctx, LayerWeights w, int multiple) {
  const int64_t f = w.shape.intermediate, m = std::max(1, multiple), width = (f + m - 1) / m * m;
  if (f == 0 || width == f) return w;
  std::vector<int32_t> first(size_t(w.shape.intermediate));
  std::iota(first.begin(), first.end(), 0);
  const Tensor idx = Tensor::from_i32(first, {int64_t(first.size())}).to(ctx.device());
  for (Tensor* p : {&w.gate_w, &w.up_w})
    if (p->defined()) *p = ops::expand_rows(ctx, *p, idx, width);
  for (Tensor* b : {&w.gate_b, &w.up_b})
    if (b->defined()) *b = ops::expand_rows(ctx, b->reshape({b->dim(0), 1}), idx, width).reshape({width});
  w.down_w = ops::expand_cols(ctx, w.down_w, idx, width);
  w.shape.intermediate = int(width);
  return w;
}

namespace {

// parts stacked by rows (each [n_i, ...] or [n_i]) into one tensor; each part becomes its view.
Tensor stack_rows(ExecContext& ctx, std::initializer_list<Tensor*> parts) {
  const Tensor& first = **parts.begin();
  Shape shape = first.shape();
  shape[0] = 0;
  for (const Tensor* p : parts) shape[0] += p->dim(0);
  Tensor stacked = Tensor::empty(shape, first.dtype(), ctx.device());
  int64_t row = 0;
  for (Tensor* p : parts) {
    Tensor view = stacked.slice_rows(row, row + p->dim(0));
    view.copy_from(*p);
    row += p->dim(0);
    *p = view;
  }
  return stacked;
}

}  // namespace

LayerWeights with_fused_projections(ExecContext& ctx, LayerWeights w) {
  if (w.q_w.defined()) {
    w.qkv_w = stack_rows(ctx, {&w.q_w, &w.k_w, &w.v_w});
    if (w.q_b.defined()) w.qkv_b = stack_rows(ctx, {&w.q_b, &w.k_b, &w.v_b});
  }
  if (w.gate_w.defined()) {
    w.gate_up_w = stack_rows(ctx, {&w.gate_w, &w.up_w});
    if (w.gate_b.defined()) w.gate_up_b = stack_rows(ctx, {&w.gate_b, &w.up_b});
  }
  return w;
}

DType compute_dtype(Precision p) {
  switch (p) {
    case Precision::Exact32:
      return DType::F32;
    case Precision::BF16:
      return DType::BF16;
    case Precision::F16:
      return DType::F16;
  }
  return DType::F32;
}

Model::Model(std::unique_ptr<WeightSource> source, ExecContext& ctx, Precision precision)
    : source_(std::move(source)), arch_(&arch_for(source_->config())), precision_(precision), device_(ctx.device()) {
  SP_REQUIRE(!(ctx.device().is_cpu() && precision != Precision::Exact32),
             "precision {}: the CPU backend computes in fp32 only; use precision exact32 on CPU, or a CUDA device "
             "for bf16 / fp16",
             precision == Precision::BF16 ? "bf16" : "fp16");
  const io::ModelConfig& c = config();
  if (c.family != io::ArchFamily::Opt) {  // rotary families
    rope_ = RopeTables(c);
  }
  SP_REQUIRE(int(c.layers.size()) == c.n_layers, "{}: {} per-layer shapes for {} layers", source_->describe(),
             c.layers.size(), c.n_layers);
  std::vector<TensorSpec> all = arch_->global_specs(c);
  for (int i = 0; i < c.n_layers; ++i) {
    auto l = arch_->layer_specs(c, i);
    all.insert(all.end(), l.begin(), l.end());
  }
  source_->validate(all, arch_->ignored_suffixes);
  for (const TensorSpec& s : arch_->global_specs(c)) globals_.at(s.role) = source_->load(s, dtype(), device_);
  if (c.tie_embeddings) globals_.lm_head = globals_.token_embed;
  SP_LOG_INFO("model: {} ({}, {} layers, hidden {}, vocab {}), compute {} on {}", source_->describe(), c.model_type,
              c.n_layers, c.hidden, c.vocab, dtype_name(dtype()), device_.str());
}

void Model::require_ctx(const ExecContext& ctx) const {
  SP_REQUIRE(ctx.device() == device_, "model was loaded on {} but called with a context on {}", device_.str(),
             ctx.device().str());
}

LayerWeights Model::load_layer(ExecContext& ctx, int layer) {
  require_ctx(ctx);
  SP_REQUIRE(layer >= 0 && layer < n_layers(), "layer {} out of range [0, {})", layer, n_layers());
  LayerWeights w;
  w.layer = layer;
  w.shape = config().layers[size_t(layer)];
  if (source_->loads_to_host()) {
    if (!prefetch_) prefetch_ = std::make_unique<LayerPrefetcher>(*source_, *arch_, dtype(), device_);
    for (auto& [role, t] : prefetch_->load(layer)) w.at(role) = std::move(t);
  } else {
    for (const TensorSpec& s : arch_->layer_specs(config(), layer)) w.at(s.role) = source_->load(s, dtype(), device_);
  }
  w = with_padded_mlp(ctx, std::move(w), mlp_multiple_);
  return fuse_ ? with_fused_projections(ctx, std::move(w)) : w;
}

Tensor Model::embed(ExecContext& ctx, const Tensor& ids, const Tensor& positions) const {
  require_ctx(ctx);
  return arch_->embed(ctx, config(), globals_, ids, positions);
}

void Model::forward_layer(ExecContext& ctx, int layer, const LayerWeights& w, Tensor& hidden, const Tensor& positions,
                          int batch, int seqlen, const Tap* tap, LayerKvCache* cache,
                          std::optional<TapPoint> stop_after, bool from_mid) const {
  require_ctx(ctx);
  SP_CHECK(w.layer == layer, "weights of layer {} passed for layer {}", w.layer, layer);
  SP_REQUIRE(hidden.ndim() == 2 && hidden.dim(0) == int64_t(batch) * seqlen && hidden.dim(1) == config().hidden,
             "forward_layer: hidden {} is not [{} x {}, {}]", hidden.desc(), batch, seqlen, config().hidden);
  const RopeTables* rope = config().family != io::ArchFamily::Opt ? &rope_ : nullptr;
  arch_->forward_layer(LayerCall{ctx, config(), precision_, layer, w, hidden, positions, batch, seqlen, tap, cache,
                                 stop_after, rope, from_mid});
}

Tensor Model::final_norm(ExecContext& ctx, const Tensor& hidden) const {
  require_ctx(ctx);
  if (!globals_.final_norm_w.defined()) return hidden;
  if (globals_.final_norm_b.defined())
    return ops::layer_norm(ctx, hidden, globals_.final_norm_w, globals_.final_norm_b, config().norm_eps);
  return ops::rms_norm(ctx, hidden, globals_.final_norm_w, config().norm_eps, config().norm_offset);
}

Tensor Model::logits(ExecContext& ctx, const Tensor& normed) const {
  require_ctx(ctx);
  Tensor out = ops::linear(ctx, normed, globals_.lm_head, Tensor(), precision_);
  if (config().final_softcap > 0) ops::softcap_(ctx, out, config().final_softcap);  // Gemma
  return out;
}

LayerKvCache Model::make_kv_cache(ExecContext& ctx, int layer, int batch, int capacity) const {
  require_ctx(ctx);
  const int64_t width = int64_t(config().layers[size_t(layer)].n_kv_heads) * config().head_dim;
  LayerKvCache c;
  c.capacity = capacity;
  c.k = Tensor::empty({int64_t(batch) * capacity, width}, dtype(), device_);
  c.v = Tensor::empty({int64_t(batch) * capacity, width}, dtype(), device_);
  return c;
}

Tensor ids_tensor(ExecContext& ctx, std::span<const int32_t> ids) {
  Tensor t = Tensor::from_i32(std::vector<int32_t>(ids.begin(), ids.end()), {int64_t(ids.size())});
  return ctx.device().is_cpu() ? t : t.to(ctx.device());
}

Tensor positions_tensor(ExecContext& ctx, int batch, int seqlen, int start) {
  std::vector<int32_t> p(static_cast<size_t>(batch) * size_t(seqlen));
  for (int b = 0; b < batch; ++b)
    std::iota(p.begin() + ptrdiff_t(b) * seqlen, p.begin() + ptrdiff_t(b + 1) * seqlen, start);
  Tensor t = Tensor::from_i32(p, {int64_t(p.size())});
  return ctx.device().is_cpu() ? t : t.to(ctx.device());
}

}  // namespace sp::model
