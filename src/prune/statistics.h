#pragma once
// Calibration statistics, streamed over batches of windows through the forward's taps: per-channel
// sums and sums of squares (Wanda norms, FLAP's fluctuation) and Gram matrices H = X^T X of the
// consumers' inputs (least-squares refits, OBS saliencies), all accumulated in F64 on the device.
// A cross-Gram R^T X pairs the pruned model's activations X with the dense model's R for the same
// rows (reconstruction towards the dense model's outputs).
#include <map>
#include <string>

#include "core/context.h"
#include "core/tensor.h"
#include "model/arch.h"

namespace sp::prune {

struct ChannelStats {
  int64_t tokens = 0;
  Tensor sum, sumsq;  // [n] F64
  Tensor gram;        // [n, n] F64, X^T X (when requested)
  Tensor cross;       // [n, n] F64, R^T X (when requested)
  Tensor ref_sum;     // [n] F64, column sums of R (with cross)

  // x: [T, n] compute dtype; reference: the dense model's activations of the same rows or null.
  void add(ExecContext& ctx, const Tensor& x, const Tensor* reference, bool want_gram, bool want_cross);
  // Host copies (F64) for the score code.
  std::vector<double> mean() const;
  std::vector<double> sq_norms() const;  // sum of squares per channel
  double energy() const;                 // sum of squares over every channel
};

// Collects the statistics of one decoder layer from the named taps (model/arch.h: "attn_in",
// "attn_o_in", "mlp_in", "mlp_down_in", "mid_resid", "layer_out").
class StatsCollector {
 public:
  explicit StatsCollector(ExecContext& ctx) : ctx_(ctx) {}
  // Collect sums / sums of squares at `name`, and its Gram / cross-Gram matrix when asked.
  void want(const std::string& name, bool gram = false, bool cross = false);
  // The tap to pass to the forward.
  model::Tap tap();
  // The dense model's activations of the rows the next forward will tap (cross-Gram only).
  void set_reference(const std::string& name, Tensor r) { reference_[name] = std::move(r); }
  void clear_references() { reference_.clear(); }
  bool has(const std::string& name) const { return stats_.count(name) > 0; }
  ChannelStats& at(const std::string& name);

 private:
  struct Want {
    bool gram = false, cross = false;
  };
  ExecContext& ctx_;
  std::map<std::string, Want> want_;
  std::map<std::string, ChannelStats> stats_;
  std::map<std::string, Tensor> reference_;
};

// A tap that keeps a copy of the activations at the given names (the dense model's side of a
// cross-Gram), replacing the previous batch's.
class ActivationRecorder {
 public:
  explicit ActivationRecorder(std::vector<std::string> names) : names_(std::move(names)) {}
  model::Tap tap();
  const std::map<std::string, Tensor>& recorded() const { return recorded_; }

 private:
  std::vector<std::string> names_;
  std::map<std::string, Tensor> recorded_;
};

}  // namespace sp::prune
