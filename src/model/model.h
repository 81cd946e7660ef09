#pragma once
// A decoder-only language model: its config, architecture table, weight source and the resident
// global weights (embeddings, final norm, LM head). Decoder layers are NOT resident: load_layer()
// brings one in and forward_layer() runs it, the ONE forward used by evaluation, calibration and
// pruning. The model never mentions the backend: the ExecContext decides where things run.
#include <algorithm>
#include <memory>
#include <optional>
#include <span>

#include "core/context.h"
#include "core/tensor.h"
#include "model/arch.h"
#include "model/layer_prefetch.h"
#include "model/layer_weights.h"
#include "model/weight_source.h"

namespace sp::model {

// The multiple a kept MLP width is zero-padded to on a GPU (a whole GEMM tile): by inference
// (Model::pad_mlp_widths) and by the pruning streams, which run the pruned layers as inference will.
inline constexpr int kMlpTileMultiple = 64;

// The activation / weight dtype of a precision: F32 for Exact32, else BF16 / F16.
DType compute_dtype(Precision p);

// w with its MLP widened to a multiple of `multiple` neurons by zero producer rows and zero
// consumer columns: the same outputs, and rows that keep cuBLAS on its tensor-core kernels (a
// pruned width such as 8806 gives rows that are not 16-byte aligned). w itself when already one.
LayerWeights with_padded_mlp(ExecContext& ctx, LayerWeights w, int multiple);

// w with q / k / v stacked into qkv_w (qkv_b when biased) and gate / up into gate_up_w (gate_up_b),
// the separate tensors becoming row views of the stacks: no extra memory once the separate copies
// go. A layer without attention (MLP) leaves qkv_w (gate_up_w) undefined; so do families without a
// gate (OPT).
LayerWeights with_fused_projections(ExecContext& ctx, LayerWeights w);

class Model {
 public:
  // Validates the source against the architecture table (every tensor present with its shape,
  // nothing unexpected) and loads the global weights on ctx's device. The CPU backend supports
  // Precision::Exact32 only.
  Model(std::unique_ptr<WeightSource> source, ExecContext& ctx, Precision precision);

  const io::ModelConfig& config() const { return source_->config(); }
  const Arch& arch() const { return *arch_; }
  WeightSource& source() { return *source_; }
  Precision precision() const { return precision_; }
  DType dtype() const { return compute_dtype(precision_); }
  int n_layers() const { return config().n_layers; }
  const GlobalWeights& globals() const { return globals_; }

  // The specs of layer i (names, roles, shapes): what load_layer reads, what a writer writes.
  std::vector<TensorSpec> layer_specs(int layer) const { return arch_->layer_specs(config(), layer); }
  // Decoder layer `layer` in the compute dtype on ctx's device. From a checkpoint, the next layer is
  // read ahead on a background thread (model/layer_prefetch.h): call in layer order for speed.
  LayerWeights load_layer(ExecContext& ctx, int layer);
  // Inference only (eval, generate, bench; never pruning, which needs the true units): load_layer
  // pads every MLP to a multiple of `multiple` neurons with zero rows (gate / up / fc1) and zero
  // columns (down / fc2), which add nothing to the output (with_padded_mlp). 1: off.
  void pad_mlp_widths(int multiple) { mlp_multiple_ = std::max(1, multiple); }
  // Inference only, where a product's launch costs more than its arithmetic (generate, bench's
  // decode): load_layer stacks q / k / v and gate / up into one weight each (with_fused_projections).
  // Products over stacked rows may round differently from the separate ones, so evaluation keeps
  // them separate.
  void fuse_projections(bool on) { fuse_ = on; }

  // ids, positions: [T] I32 on ctx's device -> hidden [T, hidden].
  Tensor embed(ExecContext& ctx, const Tensor& ids, const Tensor& positions) const;
  // hidden: [batch*seqlen, hidden] updated in place; positions: [batch*seqlen] I32 device. With a
  // cache, the seqlen new tokens of each window attend to the cache's past plus themselves. With
  // stop_after, the forward ends after that tap (hidden is then partial; see LayerCall). from_mid:
  // hidden is this layer's residual after its attention block (stopped at TapPoint::MidResid).
  void forward_layer(ExecContext& ctx, int layer, const LayerWeights& w, Tensor& hidden, const Tensor& positions,
                     int batch, int seqlen, const Tap* tap = nullptr, LayerKvCache* cache = nullptr,
                     std::optional<TapPoint> stop_after = std::nullopt, bool from_mid = false) const;
  // The final norm (identity for post-LN OPT). hidden: [M, hidden] -> [M, hidden].
  Tensor final_norm(ExecContext& ctx, const Tensor& hidden) const;
  // LM head (then the final soft-cap, Gemma). normed: [M, hidden] -> logits [M, vocab], compute dtype.
  Tensor logits(ExecContext& ctx, const Tensor& normed) const;

  // An empty cache for `batch` windows of up to `capacity` tokens for layer `layer`.
  LayerKvCache make_kv_cache(ExecContext& ctx, int layer, int batch, int capacity) const;

 private:
  void require_ctx(const ExecContext& ctx) const;

  std::unique_ptr<WeightSource> source_;
  const Arch* arch_;
  Precision precision_;
  Device device_;
  GlobalWeights globals_;
  RopeTables rope_;  // computed once from the config (rotary families)
  int mlp_multiple_ = 1;
  bool fuse_ = false;
  std::unique_ptr<LayerPrefetcher> prefetch_;  // after source_: stopped before the source goes
};

// Token ids / positions on a device. positions: window-major, seqlen each, starting at `start`.
Tensor ids_tensor(ExecContext& ctx, std::span<const int32_t> ids);
Tensor positions_tensor(ExecContext& ctx, int batch, int seqlen, int start = 0);

}  // namespace sp::model
