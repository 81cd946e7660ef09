#pragma once
// Greedy decoding steps on the device: each step feeds one token per window at the next position
// and leaves the argmax of its logits as the next token, with no host round trip (positions
// advance on the device, ids are fed back there). On a GPU the step is recorded once as a CUDA
// graph and replayed (ExecContext::capture): one launch per token instead of one per kernel, which
// is what bounds the decode speed of a small or pruned model. Elsewhere (the CPU; OPT, whose
// learned positions are shifted on the host; RoPE tables that change with the length) the same
// step runs op by op.
#include <memory>
#include <vector>

#include "core/context.h"
#include "model/model.h"

namespace sp::model {

class DecodeLoop {
 public:
  // layers: every decoder layer, resident; caches: theirs, holding `start` tokens per window;
  // first: [batch] I32 on ctx's device, the tokens at position `start`. graphs: record the step on
  // a GPU where the model allows it (runtime.cuda_graphs).
  DecodeLoop(Model& m, ExecContext& ctx, const std::vector<LayerWeights>& layers, std::vector<LayerKvCache>& caches,
             const Tensor& first, int start, bool graphs = true);
  ~DecodeLoop();
  DecodeLoop(const DecodeLoop&) = delete;
  DecodeLoop& operator=(const DecodeLoop&) = delete;

  // Feeds ids() at the next position; afterwards ids() holds each window's argmax. Enqueued only:
  // reading ids() on the host waits for it.
  void step();
  const Tensor& ids() const { return ids_; }
  // The step is a replayed CUDA graph.
  bool recorded() const { return graph_ != nullptr; }

 private:
  void run_step();  // the step op by op (also what is recorded)

  Model& m_;
  ExecContext& ctx_;
  const std::vector<LayerWeights>& layers_;
  std::vector<LayerKvCache>& caches_;
  int batch_;
  int len_;     // tokens in the caches
  Tensor ids_;  // [batch] I32: the tokens fed next
  Tensor pos_;  // [batch] I32: their position, len_
  bool graphs_;
  std::unique_ptr<CapturedWork> graph_;
};

// Whether a decode step of m with caches of `capacity` tokens can be recorded once and replayed:
// a CUDA context, embeddings computed on the device (not OPT's), and RoPE tables that do not change
// with the length up to `capacity`.
bool decode_step_recordable(const Model& m, const ExecContext& ctx, int capacity);

}  // namespace sp::model
