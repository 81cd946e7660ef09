#pragma once
// Inference speed of a model in this engine: prefill (batch x prompt tokens through every layer,
// filling the KV cache; the last row's logits) and decode (one token per window and step through
// the KV-cache path, greedy ids fed back on the device: model/decode_loop.h). Every layer is loaded
// once and stays resident, as in generate_greedy. Times are wall clock between two ExecContext::synchronize()
// calls, so queued GPU work is counted.
#include <cstdint>

#include "core/context.h"
#include "model/model.h"

namespace sp::model {

struct ThroughputRun {
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;   // all `generate` steps (0 when generate = 0)
  bool decode_recorded = false;  // the steps replayed a CUDA graph (model/decode_loop.h)
};

class ThroughputProbe {
 public:
  // Loads every decoder layer of m (resident for the probe's lifetime).
  ThroughputProbe(Model& m, ExecContext& ctx);
  // One timed run on random ids (seeded): prefill of `prompt` tokens per window, then `generate`
  // decode steps (model/decode_loop.h; graphs: as a CUDA graph where it can). The KV caches are
  // allocated before the clock starts.
  ThroughputRun run(int batch, int prompt, int generate, uint64_t seed, bool graphs = true);
  // Bytes of the resident decoder weights.
  int64_t layer_bytes() const;

 private:
  Model& m_;
  ExecContext& ctx_;
  std::vector<LayerWeights> layers_;
};

// Matrix-product FLOPs of the runs (2 per multiply-add): linear layers, attention scores and
// values over the causal context, and the LM head on the rows that produce logits. With the
// per-layer shapes of m, so compact and dense models are compared on what they compute.
double prefill_flops(const Model& m, int batch, int prompt);
double decode_flops(const Model& m, int batch, int prompt, int generate);

}  // namespace sp::model
