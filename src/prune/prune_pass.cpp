#include "prune/prune_pass.h"

#include <algorithm>

#include "core/error.h"
#include "core/fail_point.h"
#include "kernels/ops.h"
#include "prune/compact.h"

namespace sp::prune {

using model::HiddenStream;
using model::LayerWeights;
using model::Role;

namespace {

// The tensors of a layer's attention block: a stream halfway through the layer has applied them.
constexpr Role kAttentionRoles[] = {Role::AttnNormWeight,    Role::AttnNormBias, Role::QWeight,     Role::QBias,
                                    Role::KWeight,           Role::KBias,        Role::VWeight,     Role::VBias,
                                    Role::OWeight,           Role::OBias,        Role::QNormWeight, Role::KNormWeight,
                                    Role::AttnPostNormWeight};

constexpr Role kMlpRoles[] = {Role::MlpNormWeight, Role::MlpNormBias, Role::GateWeight, Role::GateBias,
                              Role::UpWeight,      Role::UpBias,      Role::DownWeight, Role::DownBias,
                              Role::MlpPostNormWeight};

bool same_tensor(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  return a.raw() == b.raw() && a.dtype() == b.dtype() && a.shape() == b.shape();
}

// The dense model's calibration stream, when the recipe refits towards it.
std::optional<HiddenStream> reference_stream(const RunContext& rc, const RunSetup& in, const RankWindows& win) {
  const Recipe& recipe = rc.recipe;
  if (recipe.reconstruct && (recipe.target == RefitTarget::Dense || recipe.refit_producers))
    return make_stream(rc, in, win.calibration);
  return std::nullopt;
}

// The finished layer `out` as the streams run it; with `forward`, the calibration stream (and the
// dense one, on its dense layer) advance through it. A stream that continued from halfway through
// the layer (mid) must have run the attention weights written.
LayerWeights advance(RunContext& rc, int l, const LayerWeights& out, const std::optional<LayerWeights>& mid,
                     bool forward, HiddenStream& calib, HiddenStream* dense, const LayerWeights& dense_w) {
  const LayerWeights run = rc.clock.timed("pass2.edit", [&] { return runnable(rc, out); });
  if (mid)
    for (Role role : kAttentionRoles)
      SP_CHECK(same_tensor(run.at(role), mid->at(role)),
               "layer {}: the stream continues from attention weights other than those written", l);
  if (forward)
    rc.clock.forwards("pass2", nullptr, [&] {
      calib.forward(l, run);
      if (dense) dense->forward(l, dense_w);
    });
  return run;
}

}  // namespace

LayerWeights with_module_of(const LayerWeights& base, const LayerWeights& from, int module) {
  LayerWeights w = base;
  if (module == kAttention) {
    for (Role role : kAttentionRoles) w.at(role) = from.at(role);
    w.shape.n_heads = from.shape.n_heads;
    w.shape.n_kv_heads = from.shape.n_kv_heads;
  } else {
    for (Role role : kMlpRoles) w.at(role) = from.at(role);
    w.shape.intermediate = from.shape.intermediate;
  }
  return w;
}

HiddenStream make_stream(const RunContext& rc, const RunSetup& in, const TokenWindows& local) {
  return HiddenStream(rc.model, rc.ctx, local.ids, local.windows, local.seqlen, in.batch, in.states);
}

bool PrunePass::attention_as_written(const LayerWeights& w) const {
  return std::all_of(std::begin(kAttentionRoles), std::end(kAttentionRoles), [&](Role r) {
    return !w.at(r).defined() || (w.at(r).dtype() == in_.output_dtype && in_.output_dtype == rc_.model.dtype());
  });
}

LayerWeights PrunePass::replay_layer(int l, bool need_dense, LayerResult& r, LayerWeights& dense_w) {
  LayerRecord rec = store_->layer(l, rc_.ctx);
  r = std::move(rec.result);
  LayerWeights out = std::move(rec.weights);
  for (int mod : kModules) pruner_.note_added_bias(mod, rec.added_bias[mod]);
  if (need_dense || !rec.derived.empty()) dense_w = rc_.model.load_layer(rc_.ctx, l);
  if (!rec.derived.empty()) {
    const LayerWeights sel = pruner_.selected_layer(dense_w, r);
    for (Role role : rec.derived) out.at(role) = ops::convert(rc_.ctx, sel.at(role), in_.output_dtype);
  }
  return out;
}

LayerWeights PrunePass::prune_layer(int l, HiddenStream& calib, HiddenStream* dense, const Allocation& allocation,
                                    LayerResult& r, LayerWeights& dense_w, std::optional<LayerWeights>& mid_weights,
                                    const VariantRequest* req, LayerVariants* variants) {
  fail_point(rc_.comm.rank(), "pass2", l);
  dense_w = rc_.clock.timed("pass2.load", [&] { return rc_.model.load_layer(rc_.ctx, l); });
  r.layer = l;
  r.prunable_params = rc_.groups[size_t(l)].prunable_params();
  LayerWeights w = dense_w;
  for (int mod : kModules) {
    const int b = blocks_.index[mod][size_t(l)];
    if (b < 0) continue;
    // The pruned attention block runs once per batch: the MLP's statistics and the layer's
    // final forward continue from the residual after it (else each recomputes it).
    if (mod == kMlp && attention_as_written(w)) {
      mid_weights = w;
      rc_.clock.forwards("pass2", nullptr, [&] {
        for (int bi = 0; bi < calib.batches(); ++bi)
          calib.forward_batch(bi, l, w, nullptr, true, model::TapPoint::MidResid);
      });
    }
    // Likewise the dense reference: its attention block, the same for every forward, runs once.
    if (mod == kMlp && dense)
      rc_.clock.forwards("pass2", nullptr, [&] {
        for (int bi = 0; bi < dense->batches(); ++bi)
          dense->forward_batch(bi, l, dense_w, nullptr, true, model::TapPoint::MidResid);
      });
    std::vector<LayerWeights>* also = variants ? &variants->variants[mod] : nullptr;
    w = pruner_.prune(l, mod, w, dense_w, calib, dense, allocation.removed[size_t(b)], r,
                      req ? req->levels[size_t(b)] : std::vector<int>{}, also);
  }
  // The pruned model runs on exactly the weights that are written (output dtype, then compute).
  LayerWeights out = rc_.clock.timed("pass2.edit", [&] { return convert_layer(rc_.ctx, w, in_.output_dtype); });
  r.shape = out.shape;
  if (variants)  // an attention variant was cut before the MLP: it takes the centre's MLP
    for (int mod : kModules)
      for (LayerWeights& v : variants->variants[mod])
        v = convert_layer(rc_.ctx, mod == kAttention ? with_module_of(w, v, kAttention) : v, in_.output_dtype);
  return out;
}

LayerRecord journal_record(const Recipe& recipe, LayerRecord rec) {
  // Producers that were not refit are a selection of the dense layer: a replay derives them
  // (selected_layer), so the journal holds about a third of the pruned layer.
  if (!recipe.refit_producers)
    for (Role role : {Role::QWeight, Role::KWeight, Role::VWeight, Role::GateWeight, Role::UpWeight})
      if (rec.weights.at(role).defined()) rec.weights.at(role) = Tensor(), rec.derived.push_back(role);
  return rec;
}

LayerWeights runnable(const RunContext& rc, const LayerWeights& out) {
  ExecContext& ctx = rc.ctx;
  return model::with_padded_mlp(ctx, convert_layer(ctx, out, rc.model.dtype()),
                                ctx.device().is_cuda() ? model::kMlpTileMultiple : 1);
}

void PrunePass::record_layer(const LayerResult& r, const LayerWeights& out) {
  store_->save_layer(journal_record(rc_.recipe, {r, out, {pruner_.added_bias(kAttention), pruner_.added_bias(kMlp)}, {}}));
}

// Pass 2: layer by layer on the pruned model's hidden states; each final layer advances the
// calibration and evaluation streams and goes to the sink (and the journal).
void PrunePass::run(const LayerSink& sink, PruneResult& result, double& eval_seconds) {
  const double t0 = wall_seconds();
  HiddenStream calib = make_stream(rc_, in_, win_.calibration);
  std::optional<HiddenStream> dense = reference_stream(rc_, in_, win_);
  std::vector<HiddenStream> evals;
  for (const auto& e : win_.eval) evals.push_back(make_stream(rc_, in_, e));
  // Layers of pass 2 the journal holds (every rank read the same journal: commands_prune.cpp checks).
  const int done = store_ ? store_->layers_done() : 0;
  Progress progress("pass 2 (prune + refit)", long(rc_.cfg.n_layers));
  for (int l = 0; l < rc_.cfg.n_layers; ++l) {
    LayerResult r;
    LayerWeights dense_w;
    std::optional<LayerWeights> mid_weights;  // the attention block the calibration stream has applied
    const LayerWeights out =
        l < done ? replay_layer(l, dense.has_value() && done < rc_.cfg.n_layers, r, dense_w)
                 : prune_layer(l, calib, dense ? &*dense : nullptr, result.allocation, r, dense_w, mid_weights);
    // The calibration windows only serve layers still to be pruned.
    const LayerWeights run = advance(rc_, l, out, mid_weights, done < rc_.cfg.n_layers, calib,
                                     dense ? &*dense : nullptr, dense_w);
    const double te = wall_seconds();
    for (auto& e : evals) e.forward(l, run);
    eval_seconds += wall_seconds() - te;
    result.pruned_config.layers[size_t(l)] = r.shape;
    rc_.clock.timed("pass2.outputs", [&] {
      sink(r, out);
      if (store_ && (l >= done || store_->saves_replayed(l))) record_layer(r, out);
    });
    result.layers.push_back(std::move(r));
    progress.step(long(l + 1));
  }
  progress.finish();
  if (store_) store_->flush();  // the last layer's files (a failed write turns the journal off)
  result.after = perplexities(in_, win_, evals, rc_.comm);
  rc_.clock["pass2"] = wall_seconds() - t0;
}

void PrunePass::measure(const Allocation& allocation, const VariantRequest& req) {
  HiddenStream calib = make_stream(rc_, in_, win_.calibration);
  std::optional<HiddenStream> dense = reference_stream(rc_, in_, win_);
  Progress progress("refine (measurement pass)", long(rc_.cfg.n_layers));
  for (int l = 0; l < rc_.cfg.n_layers; ++l) {
    LayerVariants v;
    std::optional<LayerWeights> mid_weights;
    v.centre = prune_layer(l, calib, dense ? &*dense : nullptr, allocation, v.result, v.dense, mid_weights, &req, &v);
    for (int mod : kModules) v.added_bias[mod] = pruner_.added_bias(mod);
    v.run = advance(rc_, l, v.centre, mid_weights, true, calib, dense ? &*dense : nullptr, v.dense);
    v.layer = l;
    req.sink(std::move(v));
    progress.step(long(l + 1));
  }
  progress.finish();
}

}  // namespace sp::prune
