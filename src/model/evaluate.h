#pragma once
// Evaluation built on Model::forward_layer: perplexity over token windows and greedy generation.
#include <cstdint>
#include <span>
#include <vector>

#include "core/context.h"
#include "model/model.h"

namespace sp::model {

struct PerplexityResult {
  double ppl = 0.0;
  double mean_nll = 0.0;
  int64_t windows = 0;
  int64_t tokens = 0;                   // scored tokens: windows * (seqlen - 1)
  std::vector<float> first_window_nll;  // per-token NLL of window 0, seqlen - 1 values
  std::vector<double> window_nll;       // per window, the sum of its token NLLs
  double seconds = 0.0;
};

// SparseGPT / Wanda protocol: n = ids.size() / seqlen non-overlapping windows (capped by
// max_windows when >= 0); each window scores tokens 1..seqlen-1; ppl = exp(total / (n (seqlen-1))).
// Windows are processed in groups whose hidden states stay resident (about 1 GiB, whole batches):
// each decoder layer is loaded once per group (one resident at a time) and applied
// batch_windows windows at a time (batches start at multiples of batch_windows, so a window's
// NLL is the same whichever range of windows a caller passes, if it starts on a batch); logits are computed in row chunks so [rows, vocab] stays bounded.
PerplexityResult perplexity(Model& m, ExecContext& ctx, std::span<const int32_t> ids, int seqlen, int batch_windows,
                            int max_windows = -1);

// Greedy decoding with a KV cache: prefill the prompt, then one-token steps. Returns the new ids
// (the eos id included when it ends the run; eos < 0: never stops early). All layers are kept
// resident during generation (meant for small models and tests). graphs: the steps as a replayed
// CUDA graph where the model allows it (model/decode_loop.h).
std::vector<int32_t> generate_greedy(Model& m, ExecContext& ctx, std::span<const int32_t> prompt, int max_new_tokens,
                                     int eos = -1, bool graphs = true);

// Last-row logits of a prompt (one window, fp32 on the host). Every layer is loaded in turn.
std::vector<float> prompt_last_logits(Model& m, ExecContext& ctx, std::span<const int32_t> prompt);

}  // namespace sp::model
