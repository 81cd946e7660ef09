#include "model/decode_loop.h"

#include "core/error.h"
#include "core/log.h"
#include "kernels/ops.h"
#include "model/rope.h"

namespace sp::model {

bool decode_step_recordable(const Model& m, const ExecContext& ctx, int capacity) {
  const io::ModelConfig& c = m.config();
  return ctx.is_cuda() && c.family != io::ArchFamily::Opt && !rope_depends_on_length(c, capacity, false) &&
         !rope_depends_on_length(c, capacity, true);
}

DecodeLoop::DecodeLoop(Model& m, ExecContext& ctx, const std::vector<LayerWeights>& layers,
                       std::vector<LayerKvCache>& caches, const Tensor& first, int start, bool graphs)
    : m_(m), ctx_(ctx), layers_(layers), caches_(caches), batch_(int(first.numel())), len_(start) {
  SP_REQUIRE(int(layers.size()) == m.n_layers() && caches.size() == layers.size(),
             "DecodeLoop: {} layers and {} caches for a model of {} layers", layers.size(), caches.size(),
             m.n_layers());
  for (LayerKvCache& c : caches) {
    // An attention-free layer's cache (no KV heads) never advances: it holds what the others do.
    SP_REQUIRE((c.len == start || c.k.dim(1) == 0) && c.capacity == caches.front().capacity,
               "DecodeLoop: a cache holds {} of {} tokens; expected {} of {}", c.len, c.capacity, start,
               caches.front().capacity);
    c.len = start;
  }
  ids_ = Tensor::empty({batch_}, DType::I32, ctx.device());
  ids_.copy_from(first);
  pos_ = positions_tensor(ctx, batch_, 1, start);
  graphs_ = graphs && decode_step_recordable(m, ctx, caches.front().capacity);
}

DecodeLoop::~DecodeLoop() = default;

void DecodeLoop::run_step() {
  Tensor h = m_.embed(ctx_, ids_, pos_);
  for (int l = 0; l < m_.n_layers(); ++l)
    m_.forward_layer(ctx_, l, layers_[size_t(l)], h, pos_, batch_, 1, nullptr, &caches_[size_t(l)]);
  const Tensor next = ops::argmax_rows(ctx_, m_.logits(ctx_, m_.final_norm(ctx_, h)));
  ids_.copy_from(next);
  ops::add_i32_(ctx_, pos_, 1);
}

void DecodeLoop::step() {
  const int capacity = caches_.front().capacity;
  SP_REQUIRE(len_ < capacity, "decode: the KV caches are full ({} tokens)", capacity);
  if (graphs_ && graph_ == nullptr) {
    // Recorded once at this position; the positions on the device carry every later step.
    for (LayerKvCache& c : caches_) c.recorded = true;
    try {
      graph_ = ctx_.capture([this] { run_step(); });
    } catch (const RuntimeFailure& e) {
      // Nothing recorded ran: the step goes on op by op (the tests require the graph).
      SP_LOG_WARN("decode: recording the step as a CUDA graph failed ({}); decoding op by op", e.what());
      graphs_ = false;
    }
    for (LayerKvCache& c : caches_) c.recorded = false;
  }
  if (graph_)
    graph_->replay();
  else
    run_step();
  ++len_;
  for (LayerKvCache& c : caches_) c.len = len_;
}

}  // namespace sp::model
