#include "prune/module_pruner.h"

#include <algorithm>
#include <numeric>

#include "kernels/ops.h"
#include "prune/compact.h"
#include "prune/obs.h"
#include "prune/selection.h"

namespace sp::prune {

using model::HiddenStream;
using model::LayerWeights;

namespace {

// Whether the consumer of `module` can be given a bias that Hugging Face loads (LLaMA's
// attention_bias / mlp_bias; OPT always has one).
bool can_add_bias(const RunContext& rc, int module) {
  return (module == kAttention ? rc.model.config().o_bias : rc.model.config().mlp_bias) ||
         rc.cfg.model_type == "llama";
}

}  // namespace

void ModulePruner::collect(int layer, model::TapPoint point, const LayerWeights& w, const LayerWeights& dense_w,
                           HiddenStream& calib, HiddenStream* dense, StatsCollector& col) {
  ActivationRecorder rec({point});
  const model::Tap ctap = col.tap(), rtap = rec.tap();
  rc_.clock.forwards("pass2", &col, [&] {
    for (int b = 0; b < calib.batches(); ++b) {
      if (dense) {
        dense->forward_batch(b, layer, dense_w, &rtap, false, point);
        col.set_reference(point, rec.recorded().at(point));
      }
      calib.forward_batch(b, layer, w, &ctap, false, point);
    }
  });
  col.reduce(rc_.comm, tap_widths(w, rc_.cfg.hidden), fmt::format("layer {}", layer));
  rc_.clock["pass2.statistics"] += col.seconds();
}

// The module's producers (q/k/v, gate/up, fc1) refit on the pruned model's inputs towards the
// dense model's pre-activations: P' = P C (H + delta I)^-1, which undoes the drift of the inputs
// that earlier pruning caused before this module's groups are scored.
LayerWeights ModulePruner::refit_producers(int layer, int module, const LayerWeights& w, const LayerWeights& dense_w,
                                           HiddenStream& calib, HiddenStream& dense) {
  StatsCollector col(rc_.ctx, rc_.opt.gram_fp64);
  col.want(kProducerIn[module], true, true);
  collect(layer, kProducerIn[module], w, dense_w, calib, &dense, col);
  ChannelStats& s = col.at(kProducerIn[module]);
  std::vector<int32_t> all(size_t(rc_.cfg.hidden));
  std::iota(all.begin(), all.end(), 0);
  LayerWeights out = w;
  const std::string what = where(layer, module) + " producers";
  using WB = std::pair<Tensor*, Tensor*>;
  for (auto [p, b] : module == kAttention
                         ? std::vector<WB>{{&out.q_w, &out.q_b}, {&out.k_w, &out.k_b}, {&out.v_w, &out.v_b}}
                         : std::vector<WB>{{&out.gate_w, &out.gate_b}, {&out.up_w, &out.up_b}}) {
    if (!p->defined()) continue;
    RefitStats ri;
    ri.toward_weights = rc_.recipe.toward_weights;
    ri.gram = &s.gram;
    ri.cross = &s.cross;
    if (b->defined() && rc_.recipe.intercept) ri.sum = &s.sum, ri.ref_sum = &s.ref_sum, ri.tokens = s.tokens;
    const Refit rf =
        rc_.clock.timed("pass2.refit",
                        // init-captures: clang before 16 cannot capture structured bindings
                        [&, p = p, b = b] { return refit_columns(rc_.ctx, *p, *b, ri, all, rc_.opt.damping, what); });
    *p = ops::convert(rc_.ctx, rf.w, p->dtype());
    if (b->defined()) *b = ops::convert(rc_.ctx, rf.bias, b->dtype());
  }
  return out;
}

LayerWeights ModulePruner::prune(int layer, int module, const LayerWeights& w_in, const LayerWeights& dense_w,
                                 HiddenStream& calib, HiddenStream* dense, int k, LayerResult& r,
                                 const std::vector<int>& also_k, std::vector<LayerWeights>* also) {
  ExecContext& ctx = rc_.ctx;
  const Recipe& recipe = rc_.recipe;
  const LayerWeights w =
      dense && recipe.refit_producers ? refit_producers(layer, module, w_in, dense_w, calib, *dense) : w_in;
  const bool dense_target = dense && recipe.target == RefitTarget::Dense;
  if (!dense_target) dense = nullptr;
  StatsCollector col(ctx, rc_.opt.gram_fp64);
  want_module_stats(rc_, col, module, dense_target, false);
  collect(layer, kConsumerIn[module], w, dense_w, calib, dense, col);
  int depth = k;
  for (int v : also_k) depth = std::max(depth, v);
  const Choice c =
      rc_.clock.timed("pass2.scores", [&] { return choose(rc_, "pass2", layer, module, w, col, depth, dense_target); });
  std::vector<uint8_t> keep;
  LayerWeights out = cut(layer, module, w, col, c.order, k, dense_target, keep);
  (module == kAttention ? r.attention_keep : r.mlp_keep) = keep;
  (module == kAttention ? r.attention_scores : r.mlp_scores) = c.scores;
  r.removed_params += int64_t(k) * rc_.unit_params(layer, module);
  if (also)
    for (int v : also_k) also->push_back(cut(layer, module, w, col, c.order, v, dense_target, keep));
  return out;
}

LayerWeights ModulePruner::cut(int layer, int module, const LayerWeights& w, StatsCollector& col,
                               const std::vector<int32_t>& order, int k, bool dense_target,
                               std::vector<uint8_t>& keep) {
  ExecContext& ctx = rc_.ctx;
  const Recipe& recipe = rc_.recipe;
  keep = keep_mask(rc_.units(layer, module), order, k);
  ModuleEdit e;
  e.kept = kept_units(keep);
  const std::vector<int32_t> cols =
      module == kAttention ? kept_q_rows(attention_layout(rc_.cfg, layer, rc_.opt.attention), e.kept) : e.kept;
  ChannelStats& s = col.at(kConsumerIn[module]);
  const Tensor& wc = consumer_weight(w, module);
  const Tensor& old_bias = module == kAttention ? w.o_b : w.down_b;
  // An intercept when the consumer has a bias, or may get one (bias compensation): the removed
  // channels' mean contribution then moves into the bias as part of the least-squares fit.
  const bool intercept = recipe.intercept && (old_bias.defined() || (recipe.bias_compensation && can_add_bias(rc_, module)));
  if (recipe.reconstruct && (k > 0 || dense_target || intercept) && !cols.empty()) {
    RefitStats ri;
    ri.toward_weights = recipe.toward_weights;
    ri.gram = &s.gram;
    ri.cross = dense_target ? &s.cross : &s.gram;
    if (intercept) ri.sum = &s.sum, ri.ref_sum = dense_target ? &s.ref_sum : &s.sum, ri.tokens = s.tokens;
    Refit rf = rc_.clock.timed("pass2.refit", [&] {
      return refit_columns(ctx, wc, old_bias, ri, cols, rc_.opt.damping, where(layer, module));
    });
    e.consumer = std::move(rf.w);
    if (intercept) {
      e.consumer_bias = std::move(rf.bias);
      note_added_bias(module, !old_bias.defined());
    }
  } else if (recipe.bias_compensation) {
    e.consumer_bias = compensated_bias(layer, module, w, keep, s);
  }
  LayerWeights out = rc_.clock.timed("pass2.edit", [&] {
    return module == kAttention ? prune_attention(ctx, rc_.cfg, rc_.opt.attention, w, e) : prune_mlp(ctx, w, e);
  });
  // attention_bias / mlp_bias in LLaMA's config give every projection of the block a bias.
  if (e.consumer_bias.defined() && module == kAttention && out.q_w.defined() && !out.q_b.defined()) {
    out.q_b = Tensor::zeros({out.q_w.dim(0)}, out.q_w.dtype(), ctx.device());
    out.k_b = Tensor::zeros({out.k_w.dim(0)}, out.k_w.dtype(), ctx.device());
    out.v_b = Tensor::zeros({out.v_w.dim(0)}, out.v_w.dtype(), ctx.device());
  }
  if (e.consumer_bias.defined() && module == kMlp && out.gate_w.defined() && !out.gate_b.defined()) {
    out.gate_b = Tensor::zeros({out.gate_w.dim(0)}, out.gate_w.dtype(), ctx.device());
    out.up_b = Tensor::zeros({out.up_w.dim(0)}, out.up_w.dtype(), ctx.device());
  }
  return out;
}

// FLAP's bias compensation: the removed channels' mean contribution moves into the consumer's
// bias, b' = b + W_{:,R} mean(X_R). Undefined when the architecture cannot carry the bias.
Tensor ModulePruner::compensated_bias(int layer, int module, const LayerWeights& w, const std::vector<uint8_t>& keep,
                                      const ChannelStats& s) {
  const Tensor& old = module == kAttention ? w.o_b : w.down_b;
  if (!old.defined() && !can_add_bias(rc_, module)) {
    if (!warned_bias_)
      SP_LOG_WARN("bias compensation: model_type {} has no {} bias that Hugging Face can load; skipped",
                  rc_.cfg.model_type, kModuleName[module]);
    warned_bias_ = true;
    return Tensor();
  }
  const Tensor& wc = consumer_weight(w, module);
  const std::vector<double> wv = wc.to_f64_vector(), mean = s.mean();
  std::vector<double> b = old.defined() ? old.to_f64_vector() : std::vector<double>(size_t(wc.dim(0)), 0.0);
  const AttentionLayout layout =
      module == kAttention ? attention_layout(rc_.cfg, layer, rc_.opt.attention) : AttentionLayout{};
  const int64_t ncol = wc.dim(1);
  for (size_t u = 0; u < keep.size(); ++u) {
    if (keep[u]) continue;
    const std::vector<int32_t> cols = module == kAttention ? layout.q_rows[u] : std::vector<int32_t>{int32_t(u)};
    for (int32_t j : cols)
      for (size_t i = 0; i < b.size(); ++i) b[i] += wv[i * size_t(ncol) + size_t(j)] * mean[size_t(j)];
  }
  note_added_bias(module, !old.defined());
  std::vector<float> bf(b.begin(), b.end());
  return Tensor::from_f32(bf, {int64_t(bf.size())}).to(rc_.ctx.device());
}

LayerWeights ModulePruner::selected_layer(const LayerWeights& dense_w, const LayerResult& r) const {
  LayerWeights w = dense_w;
  for (int mod : kModules) {
    const std::vector<uint8_t>& keep = mod == kAttention ? r.attention_keep : r.mlp_keep;
    if (keep.empty()) continue;  // a module that was not pruned
    ModuleEdit e;
    e.kept = kept_units(keep);
    w = mod == kAttention ? prune_attention(rc_.ctx, rc_.cfg, rc_.opt.attention, w, e) : prune_mlp(rc_.ctx, w, e);
  }
  return w;
}

}  // namespace sp::prune
