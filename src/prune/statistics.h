#pragma once
// Calibration statistics, streamed over batches of windows through the forward's taps: per-channel
// sums and sums of squares (Wanda norms, FLAP's fluctuation) and Gram matrices H = X^T X of the
// consumers' inputs (least-squares refits, OBS saliencies), on the device.
// A cross-Gram R^T X pairs the pruned model's activations X with the dense model's R for the same
// rows (reconstruction towards the dense model's outputs).
//
// Each batch's contribution is formed on its own (products of that batch alone), then added
// exactly (integer limbs, kernels/exact_sum.h; a Gram's lower triangle only, since it is symmetric,
// and for 16-bit activations on a GPU straight from the fp32 product blocks). Products: fp64 for
// fp32 activations (the CPU and the GPU then choose the same groups); for bf16 / fp16 activations,
// tensor-core products of the exact 16-bit values summed in fp32 within the batch (about 1e-6
// relative, far below the 2^-8 of the activations themselves, at ~10x the fp64 rate), or fp64 with
// `fp64_products`. After the last local batch, reduce() sums the limbs over the ranks (each holds a
// share of the windows) and reads the F64 values: the result is the same bits for any number of
// ranks and any assignment of batches to ranks.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/communicator.h"
#include "core/context.h"
#include "core/device_timer.h"
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
  void add(ExecContext& ctx, const Tensor& x, const Tensor* reference, bool want_gram, bool want_cross,
           bool fp64_products = true);
  // Sums the contributions of every rank (collective) and sets the F64 values above; `what`
  // names the layer and tap in errors (non-finite activations). Every rank must call it, also one
  // that added nothing: `n` is then the channel count.
  void reduce(ExecContext& ctx, Communicator& comm, int64_t n, bool want_gram, bool want_cross,
              const std::string& what);
  // Host copies (F64) for the score code.
  std::vector<double> mean() const;
  std::vector<double> sq_norms() const;  // sum of squares per channel
  double energy() const;                 // sum of squares over every channel

 private:
  void start(ExecContext& ctx, int64_t n, bool want_gram, bool want_cross);
  // Exact accumulators (limbs) of sum, sumsq, gram, cross, ref_sum; freed by reduce().
  Tensor acc_[5];
  bool reduced_ = false;
};

// What a StatsCollector gathers at one tap besides the sums.
struct TapRequest {
  bool gram = false, cross = false;
};

// Orders taps by their spellings: StatsCollector::reduce() issues its collectives in the alphabetical
// order of the names, the same on every rank, and the first tap with non-finite statistics names the
// error.
struct TapsByName {
  bool operator()(model::TapPoint a, model::TapPoint b) const {
    return std::string_view(to_string(a)) < std::string_view(to_string(b));
  }
};

// Collects the statistics of one decoder layer at the forward's taps (model::TapPoint).
class StatsCollector {
 public:
  // fp64_products: fp64 Gram products also for bf16 / fp16 activations (see above).
  explicit StatsCollector(ExecContext& ctx, bool fp64_products = false)
      : ctx_(ctx), fp64_(fp64_products), timer_(ctx) {}
  // Collect sums / sums of squares at `point`, and its Gram / cross-Gram matrix when asked.
  void want(model::TapPoint point, bool gram = false, bool cross = false);
  // The tap to pass to the forward.
  model::Tap tap();
  // The dense model's activations of the rows the next forward will tap (cross-Gram only).
  void set_reference(model::TapPoint point, Tensor r) { reference_[point] = std::move(r); }
  // After the local batches: every wanted tap's statistics summed over the ranks (collective;
  // `widths` gives each tap's channel count for ranks that saw no batch). `where` prefixes errors.
  void reduce(Communicator& comm, const std::map<model::TapPoint, int64_t>& widths, const std::string& where);
  ChannelStats& at(model::TapPoint point);
  // Seconds spent in the statistics so far: the taps' device time (timed on the device, so the
  // forward is never stopped for it) and the reductions' wall time.
  double seconds() const { return timer_.seconds(); }

 private:
  ExecContext& ctx_;
  bool fp64_;
  mutable DeviceTimer timer_;                               // the taps on the device, plus the reductions' wall time
  std::map<model::TapPoint, TapRequest, TapsByName> want_;  // in reduce()'s order
  std::map<model::TapPoint, ChannelStats> stats_;
  std::map<model::TapPoint, Tensor> reference_;
};

// A tap that keeps a copy of the activations at the given points (the dense model's side of a
// cross-Gram), replacing the previous batch's.
class ActivationRecorder {
 public:
  explicit ActivationRecorder(std::vector<model::TapPoint> points) : points_(std::move(points)) {}
  model::Tap tap();
  const std::map<model::TapPoint, Tensor>& recorded() const { return recorded_; }

 private:
  std::vector<model::TapPoint> points_;
  std::map<model::TapPoint, Tensor> recorded_;
};

}  // namespace sp::prune
