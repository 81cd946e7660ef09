#include "model/evaluate.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "kernels/ops.h"

namespace sp::model {
namespace {

// Rows of logits computed at once: about 64M elements whatever the vocabulary.
int64_t logit_chunk_rows(const Model& m) { return std::max<int64_t>(1, (int64_t(64) << 20) / m.config().vocab); }

// Windows whose hidden states stay resident together: each layer is loaded once per group, so a
// pass over the weights is shared by up to ~1 GiB of activations (at least one batch).
int64_t group_windows(const Model& m, int seqlen, int batch) {
  const int64_t per_window = int64_t(seqlen) * m.config().hidden * int64_t(dtype_size(m.dtype()));
  return std::max<int64_t>(batch, (int64_t(1) << 30) / std::max<int64_t>(1, per_window));
}

// Runs `nwin` windows of `seqlen` tokens through every layer and the final norm. Each layer is
// loaded once (one resident at a time) and applied `batch` windows at a time, in place on row
// views of the group's hidden states. ids: nwin*seqlen host ids -> [nwin*seqlen, hidden], device.
Tensor run_windows(Model& m, ExecContext& ctx, std::span<const int32_t> ids, int nwin, int batch, int seqlen) {
  Tensor hidden = m.embed(ctx, ids_tensor(ctx, ids), positions_tensor(ctx, nwin, seqlen));
  for (int l = 0; l < m.n_layers(); ++l) {
    const LayerWeights w = m.load_layer(ctx, l);
    for (int b0 = 0; b0 < nwin; b0 += batch) {
      const int nb = std::min(batch, nwin - b0);
      Tensor rows = hidden.slice_rows(int64_t(b0) * seqlen, int64_t(b0 + nb) * seqlen);
      m.forward_layer(ctx, l, w, rows, positions_tensor(ctx, nb, seqlen), nb, seqlen);
    }
  }
  return m.final_norm(ctx, hidden);
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
  const int64_t chunk = logit_chunk_rows(m);
  const int64_t group = group_windows(m, seqlen, batch_windows);
  Progress progress("perplexity", long(n));
  for (int64_t w0 = 0; w0 < n; w0 += group) {
    const int ng = int(std::min<int64_t>(group, n - w0));
    auto group_ids = ids.subspan(size_t(w0) * size_t(seqlen), size_t(ng) * size_t(seqlen));
    Tensor normed = run_windows(m, ctx, group_ids, ng, batch_windows, seqlen);
    for (int b = 0; b < ng; ++b) {
      // Row t of a window predicts token t + 1: rows 0..seqlen-2 are scored.
      for (int64_t r0 = 0; r0 < seqlen - 1; r0 += chunk) {
        const int64_t r1 = std::min<int64_t>(seqlen - 1, r0 + chunk);
        const int64_t base = int64_t(b) * seqlen;
        Tensor logits = m.logits(ctx, normed.slice_rows(base + r0, base + r1));
        Tensor targets = ids_tensor(ctx, group_ids.subspan(size_t(base + r0 + 1), size_t(r1 - r0)));
        const std::vector<float> nll = ops::token_nll(ctx, logits, targets).to_f32_vector();
        for (float v : nll) total += double(v);
        if (w0 + b == 0) r.first_window_nll.insert(r.first_window_nll.end(), nll.begin(), nll.end());
      }
    }
    progress.step(long(w0 + ng));
  }
  progress.finish();
  r.windows = n;
  r.tokens = n * (seqlen - 1);
  r.mean_nll = total / double(r.tokens);
  r.ppl = std::exp(r.mean_nll);
  r.seconds = wall_seconds() - t0;
  return r;
}

std::vector<float> prompt_last_logits(Model& m, ExecContext& ctx, std::span<const int32_t> prompt) {
  SP_REQUIRE(!prompt.empty(), "prompt_last_logits: empty prompt");
  const int t = int(prompt.size());
  Tensor normed = run_windows(m, ctx, prompt, 1, 1, t);
  return m.logits(ctx, normed.slice_rows(t - 1, t)).to_f32_vector();
}

std::vector<int32_t> generate_greedy(Model& m, ExecContext& ctx, std::span<const int32_t> prompt, int max_new_tokens,
                                     int eos) {
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
  // One step: feed `step_ids` at positions [pos, pos + n), return the argmax after the last one.
  auto step = [&](std::span<const int32_t> step_ids, int pos) {
    const int n = int(step_ids.size());
    Tensor p = positions_tensor(ctx, 1, n, pos);
    Tensor hidden = m.embed(ctx, ids_tensor(ctx, step_ids), p);
    for (int l = 0; l < m.n_layers(); ++l)
      m.forward_layer(ctx, l, layers[size_t(l)], hidden, p, 1, n, nullptr, &caches[size_t(l)]);
    Tensor last = m.final_norm(ctx, hidden.slice_rows(n - 1, n));
    return ops::argmax_rows(ctx, m.logits(ctx, last)).to(Device::cpu()).data<int32_t>()[0];
  };
  int32_t next = step(prompt, 0);
  int pos = int(prompt.size());
  while (true) {
    out.push_back(next);
    if (int(out.size()) == max_new_tokens || next == eos) break;
    next = step(std::span<const int32_t>(&out.back(), 1), pos);
    ++pos;
  }
  return out;
}

}  // namespace sp::model
