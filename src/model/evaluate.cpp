#include "model/evaluate.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "kernels/ops.h"
#include "model/decode_loop.h"
#include "model/hidden_stream.h"

namespace sp::model {
namespace {

// Windows whose hidden states stay resident together: each layer is loaded once per group, so a
// pass over the weights is shared by up to ~1 GiB of activations (at least one batch).
int64_t group_windows(const Model& m, int seqlen, int batch) {
  const int64_t per_window = int64_t(seqlen) * m.config().hidden * int64_t(dtype_size(m.dtype()));
  const int64_t fit = (int64_t(1) << 30) / std::max<int64_t>(1, per_window);
  return std::max<int64_t>(1, fit / batch) * batch;
}

// Runs `nwin` windows of `seqlen` tokens through every layer, each layer loaded once (one resident
// at a time) and applied `batch` windows at a time.
HiddenStream run_windows(Model& m, ExecContext& ctx, std::span<const int32_t> ids, int nwin, int batch, int seqlen) {
  HiddenStream s(m, ctx, ids, nwin, seqlen, batch);
  for (int l = 0; l < m.n_layers(); ++l) s.forward(l, m.load_layer(ctx, l));
  return s;
}

}  // namespace

PerplexityResult perplexity(Model& m, ExecContext& ctx, std::span<const int32_t> ids, int seqlen, int batch_windows,
                            int max_windows) {
  SP_REQUIRE(seqlen >= 2, "perplexity: seqlen {} must be >= 2", seqlen);
  SP_REQUIRE(batch_windows >= 1, "perplexity: batch_windows {} must be >= 1", batch_windows);
  int64_t n = int64_t(ids.size()) / seqlen;
  if (max_windows >= 0) n = std::min<int64_t>(n, max_windows);
  SP_REQUIRE(n >= 1, "perplexity: {} tokens make no window of seqlen {}", ids.size(), seqlen);
  const double t0 = wall_seconds();
  PerplexityResult r;
  double total = 0.0;
  const int64_t group = group_windows(m, seqlen, batch_windows);
  Progress progress("perplexity", long(n));
  for (int64_t w0 = 0; w0 < n; w0 += group) {
    const int ng = int(std::min<int64_t>(group, n - w0));
    auto group_ids = ids.subspan(size_t(w0) * size_t(seqlen), size_t(ng) * size_t(seqlen));
    const HiddenStream st = run_windows(m, ctx, group_ids, ng, batch_windows, seqlen);
    const std::vector<double> nll = st.window_nll(w0 == 0 ? &r.first_window_nll : nullptr);
    double group_nll = 0.0;
    for (double v : nll) group_nll += v;
    // A NaN / Inf logit (overflow in BF16 / F16, a broken pruned checkpoint) must not become "ppl nan".
    SP_REQUIRE(std::isfinite(group_nll),
               "perplexity: the NLL of windows {}..{} (seqlen {}) is not finite ({}): the model produced a non-finite "
               "logit (try runtime.precision: fp32)",
               w0, w0 + ng - 1, seqlen, group_nll);
    r.window_nll.insert(r.window_nll.end(), nll.begin(), nll.end());
    for (double v : nll) total += v;
    progress.step(long(w0 + ng));
  }
  progress.finish();
  r.windows = n;
  r.tokens = n * (seqlen - 1);
  r.mean_nll = total / double(r.tokens);
  r.ppl = std::exp(r.mean_nll);
  SP_REQUIRE(std::isfinite(r.ppl), "perplexity: mean NLL {} over {} tokens overflows exp()", r.mean_nll, r.tokens);
  r.seconds = wall_seconds() - t0;
  return r;
}

std::vector<float> prompt_last_logits(Model& m, ExecContext& ctx, std::span<const int32_t> prompt) {
  SP_REQUIRE(!prompt.empty(), "prompt_last_logits: empty prompt");
  const int t = int(prompt.size());
  const HiddenStream st = run_windows(m, ctx, prompt, 1, 1, t);
  return m.logits(ctx, m.final_norm(ctx, st.rows(t - 1, t))).to_f32_vector();
}

std::vector<int32_t> generate_greedy(Model& m, ExecContext& ctx, std::span<const int32_t> prompt, int max_new_tokens,
                                     int eos, bool graphs) {
  SP_REQUIRE(!prompt.empty(), "generate: empty prompt");
  SP_REQUIRE(max_new_tokens >= 0, "generate: max_new_tokens {} must be >= 0", max_new_tokens);
  std::vector<int32_t> out;
  if (max_new_tokens == 0) return out;
  const int capacity = int(prompt.size()) + max_new_tokens;
  std::vector<LayerWeights> layers;
  std::vector<LayerKvCache> caches;
  for (int l = 0; l < m.n_layers(); ++l) {
    layers.push_back(m.load_layer(ctx, l));
    caches.push_back(m.make_kv_cache(ctx, l, 1, capacity));
  }
  // Feeds `step_ids` at positions [0, n) into empty caches -> the argmax after the last one ([1] I32).
  auto prefill = [&](std::span<const int32_t> step_ids) {
    const int n = int(step_ids.size());
    for (LayerKvCache& c : caches) c.len = 0;
    const Tensor p = positions_tensor(ctx, 1, n, 0);
    Tensor hidden = m.embed(ctx, ids_tensor(ctx, step_ids), p);
    for (int l = 0; l < m.n_layers(); ++l)
      m.forward_layer(ctx, l, layers[size_t(l)], hidden, p, 1, n, nullptr, &caches[size_t(l)]);
    return ops::argmax_rows(ctx, m.logits(ctx, m.final_norm(ctx, hidden.slice_rows(n - 1, n))));
  };
  auto host_id = [](const Tensor& ids) { return ids.to(Device::cpu()).data<int32_t>()[0]; };
  std::unique_ptr<DecodeLoop> decode =
      std::make_unique<DecodeLoop>(m, ctx, layers, caches, prefill(prompt), int(prompt.size()), graphs);
  int32_t next = host_id(decode->ids());
  int pos = int(prompt.size());
  while (true) {
    out.push_back(next);
    if (int(out.size()) == max_new_tokens || next == eos) break;
    if (rope_restarts_cache(m.config(), pos, pos + 1)) {
      // As transformers' Phi3 generation: the whole sequence again, rotated with the long factors.
      std::vector<int32_t> all(prompt.begin(), prompt.end());
      all.insert(all.end(), out.begin(), out.end());
      decode.reset();
      decode = std::make_unique<DecodeLoop>(m, ctx, layers, caches, prefill(all), int(all.size()), graphs);
    } else {
      decode->step();
    }
    next = host_id(decode->ids());
    ++pos;
  }
  return out;
}

}  // namespace sp::model
