#include "model/hidden_stream.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/ops.h"

namespace sp::model {

HiddenStream::HiddenStream(const Model& m, ExecContext& ctx, std::span<const int32_t> ids, int nwin, int seqlen,
                           int batch, Residence where)
    : m_(m),
      ctx_(ctx),
      ids_(ids.begin(), ids.end()),
      nwin_(nwin),
      seqlen_(seqlen),
      batch_(std::max(1, batch)),
      where_(where) {
  SP_REQUIRE(nwin >= 0 && seqlen >= 1 && int64_t(ids.size()) == int64_t(nwin) * seqlen,
             "hidden stream: {} ids are not {} windows of {} tokens", ids.size(), nwin, seqlen);
  mid_.assign(size_t(batches()), -1);
  if (nwin == 0) return;
  if (where_ == Residence::Device) {
    hidden_ = m_.embed(ctx_, ids_tensor(ctx_, ids_), positions_tensor(ctx_, nwin_, seqlen_));
    return;
  }
  for (int b = 0; b < batches(); ++b) {  // embedded a batch at a time, straight to the host
    const int nb = batch_windows(b);
    const auto first = size_t(b) * size_t(batch_) * size_t(seqlen_);
    const Tensor e =
        m_.embed(ctx_, ids_tensor(ctx_, std::span<const int32_t>(ids_).subspan(first, size_t(nb) * seqlen_)),
                 positions_tensor(ctx_, nb, seqlen_));
    if (b == 0) allocate_host(int64_t(nwin_) * seqlen_, e.dim(1), e.dtype());
    batch_rows(b).copy_from(e);
  }
}

void HiddenStream::allocate_host(int64_t rows, int64_t width, DType dt) {
  host_ = std::make_shared<StagingBuffer>(size_t(rows * width) * dtype_size(dt));
  hidden_ = Tensor::view_of(host_->data(), {rows, width}, dt, Device::cpu());
}

HiddenStream HiddenStream::clone() const { return head(nwin_); }

HiddenStream HiddenStream::head(int n) const {
  SP_CHECK(n >= 0 && n <= nwin_, "head({}) of {} windows", n, nwin_);
  SP_CHECK(n == nwin_ || between_layers(), "head() of a stream halfway through a layer");
  HiddenStream c = *this;
  c.nwin_ = n;
  c.ids_.resize(size_t(n) * size_t(seqlen_));
  c.mid_.resize(size_t(c.batches()));
  c.hidden_ = Tensor();
  c.host_.reset();
  if (n == 0) return c;
  const Tensor src = hidden_.slice_rows(0, int64_t(n) * seqlen_);
  if (where_ == Residence::Device) {
    c.hidden_ = src.clone();
  } else {
    c.allocate_host(src.dim(0), src.dim(1), src.dtype());
    c.hidden_.copy_from(src);
  }
  return c;
}

Tensor HiddenStream::rows(int64_t r0, int64_t r1) const {
  const Tensor v = hidden_.slice_rows(r0, r1);
  return where_ == Residence::Device ? v : v.to(ctx_.device());
}

std::vector<std::vector<double>> HiddenStream::window_kl(const std::vector<const HiddenStream*>& others) const {
  for (const HiddenStream* o : others)
    SP_CHECK(o->nwin_ == nwin_ && o->seqlen_ == seqlen_, "window_kl of streams of different windows");
  const int64_t chunk = std::max<int64_t>(1, (int64_t(32) << 20) / m_.config().vocab);
  std::vector<std::vector<double>> out(others.size(), std::vector<double>(size_t(nwin_), 0.0));
  for (int w = 0; w < nwin_; ++w) {
    const int64_t base = int64_t(w) * seqlen_;
    for (int64_t r0 = 0; r0 < seqlen_; r0 += chunk) {
      const int64_t r1 = std::min<int64_t>(seqlen_, r0 + chunk);
      const Tensor p = m_.logits(ctx_, m_.final_norm(ctx_, rows(base + r0, base + r1)));
      for (size_t i = 0; i < others.size(); ++i) {
        const Tensor q = m_.logits(ctx_, m_.final_norm(ctx_, others[i]->rows(base + r0, base + r1)));
        for (float v : ops::kl_div_rows(ctx_, p, q).to_f32_vector()) out[i][size_t(w)] += double(v);
      }
    }
  }
  return out;
}

bool HiddenStream::between_layers() const {
  return std::all_of(mid_.begin(), mid_.end(), [](int l) { return l < 0; });
}

int HiddenStream::batch_windows(int b) const { return std::min(batch_, nwin_ - b * batch_); }

Tensor HiddenStream::batch_rows(int b) const {
  const int64_t first = int64_t(b) * batch_ * seqlen_;
  return hidden_.slice_rows(first, first + int64_t(batch_windows(b)) * seqlen_);
}

void HiddenStream::forward_batch(int b, int layer, const LayerWeights& w, const Tap* tap, bool advance,
                                 std::optional<TapPoint> stop_after) {
  SP_CHECK(!advance || !stop_after || stop_after == TapPoint::MidResid,
           "a stream advances through whole layers or to the middle of one");
  int& mid = mid_[size_t(b)];
  SP_CHECK(mid < 0 || mid == layer, "batch {} is halfway through layer {}, not {}", b, mid, layer);
  const bool from_mid = mid == layer;
  SP_CHECK(!(from_mid && stop_after == TapPoint::MidResid), "batch {} is already halfway through layer {}", b, layer);
  const int nb = batch_windows(b);
  Tensor stored = batch_rows(b);
  // Device-resident: in place when advancing; host-resident: uploaded, and downloaded when advancing.
  Tensor x = where_ == Residence::Host ? stored.to(ctx_.device()) : advance ? stored : stored.clone();
  m_.forward_layer(ctx_, layer, w, x, positions(nb), nb, seqlen_, tap, nullptr, stop_after, from_mid);
  if (!advance) return;
  if (where_ == Residence::Host) stored.copy_from(x);
  mid = stop_after ? layer : -1;
}

const Tensor& HiddenStream::positions(int n) const {
  auto it = positions_.find(n);
  if (it == positions_.end()) it = positions_.emplace(n, positions_tensor(ctx_, n, seqlen_)).first;
  return it->second;
}

void HiddenStream::forward(int layer, const LayerWeights& w, const Tap* tap, bool advance) {
  for (int b = 0; b < batches(); ++b) forward_batch(b, layer, w, tap, advance);
}

std::vector<double> HiddenStream::window_nll(std::vector<float>* first_window) const {
  SP_CHECK(between_layers(), "NLL of a stream halfway through a layer");
  // Rows of logits at once: about 64M elements whatever the vocabulary.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(64) << 20) / m_.config().vocab);
  std::vector<double> out(size_t(nwin_), 0.0);
  for (int w = 0; w < nwin_; ++w) {
    const int64_t base = int64_t(w) * seqlen_;
    for (int64_t r0 = 0; r0 < seqlen_ - 1; r0 += chunk) {
      const int64_t r1 = std::min<int64_t>(seqlen_ - 1, r0 + chunk);
      Tensor normed = m_.final_norm(ctx_, rows(base + r0, base + r1));
      Tensor targets = ids_tensor(ctx_, std::span<const int32_t>(ids_).subspan(size_t(base + r0 + 1), size_t(r1 - r0)));
      const std::vector<float> nll = ops::token_nll(ctx_, m_.logits(ctx_, normed), targets).to_f32_vector();
      for (float v : nll) out[size_t(w)] += double(v);
      if (w == 0 && first_window) first_window->insert(first_window->end(), nll.begin(), nll.end());
    }
  }
  return out;
}

}  // namespace sp::model
