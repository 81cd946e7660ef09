#include "model/throughput.h"

#include <random>

#include "core/error.h"
#include "core/log.h"
#include "kernels/ops.h"
#include "model/decode_loop.h"

namespace sp::model {
namespace {

// Weight elements of the matrices of layer `l` (its specs: every 2-D tensor is a linear weight).
double linear_params(const Model& m, int l) {
  double n = 0;
  for (const TensorSpec& s : m.layer_specs(l))
    if (s.shape.size() == 2) n += double(s.shape[0]) * double(s.shape[1]);
  return n;
}

// FLOPs of `tokens` new tokens per window attending to `ctx_sum` context positions in total
// (summed over the tokens), for `batch` windows, through every layer; the LM head on `head_rows`.
double flops(const Model& m, int batch, double tokens, double ctx_sum, double head_rows) {
  const auto& c = m.config();
  double f = 0;
  for (int l = 0; l < m.n_layers(); ++l) {
    const double heads = c.layers[size_t(l)].n_heads;
    f += 2.0 * linear_params(m, l) * tokens * batch;            // q, k, v, o and the MLP
    f += 4.0 * heads * c.head_dim * ctx_sum * double(batch);  // Q K^T and P V
  }
  return f + 2.0 * double(c.hidden) * double(c.vocab) * head_rows;
}

}  // namespace

ThroughputProbe::ThroughputProbe(Model& m, ExecContext& ctx) : m_(m), ctx_(ctx) {
  for (int l = 0; l < m.n_layers(); ++l) layers_.push_back(m.load_layer(ctx, l));
}

int64_t ThroughputProbe::layer_bytes() const {
  int64_t b = 0;
  for (const auto& w : layers_) b += int64_t(w.nbytes());
  return b;
}

ThroughputRun ThroughputProbe::run(int batch, int prompt, int generate, uint64_t seed, bool graphs) {
  SP_REQUIRE(batch >= 1 && prompt >= 1 && generate >= 0, "throughput: batch {}, prompt {}, generate {}", batch, prompt,
             generate);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, m_.config().vocab - 1);
  std::vector<int32_t> ids(size_t(batch) * size_t(prompt));
  for (int32_t& t : ids) t = token(rng);
  std::vector<LayerKvCache> caches;
  for (int l = 0; l < m_.n_layers(); ++l) caches.push_back(m_.make_kv_cache(ctx_, l, batch, prompt + generate));
  const Tensor prompt_ids = ids_tensor(ctx_, ids);
  const Tensor prompt_pos = positions_tensor(ctx_, batch, prompt, 0);
  // Window b's last row of the prefill, where its logits come from.
  std::vector<int32_t> last_rows;
  for (int b = 0; b < batch; ++b) last_rows.push_back(int32_t((b + 1) * prompt - 1));
  const Tensor last_idx = ids_tensor(ctx_, last_rows);

  auto forward = [&](const Tensor& step_ids, const Tensor& pos, int seqlen) {
    Tensor hidden = m_.embed(ctx_, step_ids, pos);
    for (int l = 0; l < m_.n_layers(); ++l)
      m_.forward_layer(ctx_, l, layers_[size_t(l)], hidden, pos, batch, seqlen, nullptr, &caches[size_t(l)]);
    return hidden;
  };
  ThroughputRun r;
  ctx_.synchronize();
  double t0 = wall_seconds();
  Tensor hidden = forward(prompt_ids, prompt_pos, prompt);
  Tensor last = ops::embedding(ctx_, hidden, last_idx);  // row gather: each window's last row
  Tensor next = ops::argmax_rows(ctx_, m_.logits(ctx_, m_.final_norm(ctx_, last)));
  ctx_.synchronize();
  r.prefill_seconds = wall_seconds() - t0;
  t0 = wall_seconds();
  if (generate > 0) {  // the CUDA graph's recording, when there is one, is timed with the steps
    DecodeLoop decode(m_, ctx_, layers_, caches, next, prompt, graphs);
    for (int s = 0; s < generate; ++s) decode.step();
    r.decode_recorded = decode.recorded();
  }
  ctx_.synchronize();
  r.decode_seconds = generate > 0 ? wall_seconds() - t0 : 0.0;
  return r;
}

double prefill_flops(const Model& m, int batch, int prompt) {
  const double p = prompt;
  return flops(m, batch, p, p * (p + 1) / 2, double(batch));
}

double decode_flops(const Model& m, int batch, int prompt, int generate) {
  double ctx_sum = 0;
  for (int s = 0; s < generate; ++s) ctx_sum += double(prompt + s + 1);
  return flops(m, batch, double(generate), ctx_sum, double(batch) * generate);
}

}  // namespace sp::model
