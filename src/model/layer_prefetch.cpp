#include "model/layer_prefetch.h"

namespace sp::model {

LayerPrefetcher::LayerPrefetcher(WeightSource& source, const Arch& arch, DType dtype, Device device)
    : source_(source), arch_(arch), dtype_(dtype), device_(device) {}

LayerPrefetcher::~LayerPrefetcher() { join(); }

void LayerPrefetcher::join() {
  if (thread_.joinable()) thread_.join();
}

void LayerPrefetcher::read(int layer, Slab& s) {
  s.layer = -1;
  s.error = nullptr;
  s.host.clear();
  const std::vector<TensorSpec> specs = arch_.layer_specs(source_.config(), layer);
  auto bytes_of = [&](const TensorSpec& t) {
    return (size_t(shape_numel(t.shape)) * dtype_size(dtype_) + 255) / 256 * 256;
  };
  if (device_.is_cuda()) {
    size_t total = 0;
    for (const TensorSpec& t : specs) total += bytes_of(t);
    if (s.staging.size() < total) s.staging = StagingBuffer(total);  // once, or when a later layer is larger
  }
  size_t offset = 0;
  for (const TensorSpec& t : specs) {
    Tensor h;
    if (device_.is_cuda()) {
      h = Tensor::view_of(static_cast<uint8_t*>(s.staging.data()) + offset, t.shape, dtype_, Device::cpu());
      offset += bytes_of(t);
    } else {
      h = Tensor::empty(t.shape, dtype_, Device::cpu());
    }
    source_.load_into(t, dtype_, h.raw());
    s.host.emplace_back(t.role, std::move(h));
  }
  s.layer = layer;
}

std::vector<std::pair<Role, Tensor>> LayerPrefetcher::load(int layer) {
  join();
  int use = filling_;
  filling_ = -1;
  if (use < 0 || slabs_[use].layer != layer) {  // not the one read ahead: read it now
    use = use < 0 ? 0 : use;
    read(layer, slabs_[use]);
  } else if (slabs_[use].error) {
    std::rethrow_exception(std::exchange(slabs_[use].error, nullptr));
  }
  Slab& now = slabs_[use];
  if (layer + 1 < source_.config().n_layers) {
    filling_ = 1 - use;
    thread_ = std::thread([this, next = layer + 1, &s = slabs_[filling_]] {
      try {
        read(next, s);
      } catch (...) {
        s.layer = next;
        s.error = std::current_exception();
      }
    });
  }
  std::vector<std::pair<Role, Tensor>> out;
  for (auto& [role, h] : now.host) out.emplace_back(role, device_.is_cpu() ? std::move(h) : h.to(device_));
  now.host.clear();
  now.layer = -1;
  return out;
}

}  // namespace sp::model
