#pragma once
// Hidden states of a set of token windows, resident on the context's device and advanced one
// decoder layer at a time (one layer's weights resident), `batch` windows per forward call. The
// unit of streaming shared by evaluation (perplexity) and pruning (calibration passes).
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/context.h"
#include "core/device.h"
#include "core/enum_names.h"
#include "core/tensor.h"
#include "model/model.h"

namespace sp::model {

// Where a stream keeps its hidden states between forwards: on the context's device, or in host
// memory (page-locked when a GPU is visible), one batch at a time uploaded for each forward and
// downloaded after it: device memory for one batch instead of every window, at the cost of the
// copies (a memory budget's last resort, cli/plan.cpp).
enum class Residence { Device, Host };
inline constexpr EnumName<Residence> kResidenceNames[] = {{Residence::Device, "device"}, {Residence::Host, "host"}};

class HiddenStream {
 public:
  // ids: nwin * seqlen token ids (window-major). The hidden states start as the embeddings. A
  // stream may hold no window (a rank with no share of a small set): every pass is then empty.
  HiddenStream(const Model& m, ExecContext& ctx, std::span<const int32_t> ids, int nwin, int seqlen, int batch,
               Residence where = Residence::Device);

  // A deep copy (its own hidden states), e.g. to follow a perturbed model from this point on.
  HiddenStream clone() const;
  // The first `n` windows as a new stream (deep copy).
  HiddenStream head(int n) const;
  // Per window, the sum over its tokens of KL(this model's next-token distribution || other's),
  // same windows and ids: how far `other`'s predictions moved. Both after the last layer. Each
  // window's value depends on that window alone (not on which others share the stream).
  // result[i][w]: others[i]'s window w. This stream's logits are formed once per row chunk for all
  // of `others`, so n streams cost n + 1 LM-head products, not 2n; each value is the same as
  // comparing with that stream alone.
  std::vector<std::vector<double>> window_kl(const std::vector<const HiddenStream*>& others) const;

  int windows() const { return nwin_; }
  int seqlen() const { return seqlen_; }
  int batches() const { return (nwin_ + batch_ - 1) / batch_; }
  int batch_windows(int b) const;
  Residence residence() const { return where_; }
  // Rows [r0, r1) of the stream (window-major) on the context's device: a view of a device-resident
  // stream, an uploaded copy of a host-resident one.
  Tensor rows(int64_t r0, int64_t r1) const;
  std::span<const int32_t> ids() const { return ids_; }

  // Applies decoder layer `layer` (weights w) to batch b, in place when `advance`, otherwise to a
  // copy (the tap still sees every activation; the stream is unchanged). Without advancing, the
  // forward may stop after the tap `stop_after`, the last activation the caller needs. Advancing
  // may stop at TapPoint::MidResid: the batch then holds the layer's residual after its attention
  // block, and every later forward of that layer runs the MLP block only (same attention weights:
  // the caller's promise), e.g. pruning's statistics of the MLP and the layer's final pass.
  void forward_batch(int b, int layer, const LayerWeights& w, const Tap* tap, bool advance,
                     std::optional<TapPoint> stop_after = std::nullopt);
  // Every batch in order.
  void forward(int layer, const LayerWeights& w, const Tap* tap = nullptr, bool advance = true);

  // After the last layer, per window: the sum of its token NLLs, row t predicting token t + 1 (rows
  // 0..seqlen-2), through the final norm and the LM head in row chunks of bounded size. When
  // first_window is given it receives window 0's per-token NLL.
  std::vector<double> window_nll(std::vector<float>* first_window = nullptr) const;

 private:
  const Model& m_;
  ExecContext& ctx_;
  std::vector<int32_t> ids_;
  int nwin_, seqlen_, batch_;
  Residence where_;
  Tensor hidden_;                        // [nwin * seqlen, hidden]: device memory, or a view of host_
  std::shared_ptr<StagingBuffer> host_;  // a host-resident stream's bytes (shared by copies, as a Tensor's)
  std::vector<int> mid_;                 // per batch: the layer it is halfway through (-1: between layers)
  // Token positions of a batch of n windows on the device, made once (an upload waits for the
  // device: one per forward would stall every batch).
  mutable std::map<int, Tensor> positions_;
  const Tensor& positions(int n) const;
  bool between_layers() const;
  // The rows of batch b: a [windows * seqlen, hidden] view of hidden_ (either residence).
  Tensor batch_rows(int b) const;
  // hidden_ as fresh host memory of this shape (a host-resident stream's storage).
  void allocate_host(int64_t rows, int64_t width, DType dt);
};

}  // namespace sp::model
