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
  std::vector<Tensor> host;
  if (device_.is_cuda()) {  // views into the slab's staging, copied to the device by load()
    std::vector<std::pair<Shape, DType>> layout;
    for (const TensorSpec& t : specs) layout.emplace_back(t.shape, dtype_);
    host = staged_tensors(s.staging, layout);
  } else {  // the layer itself
    for (const TensorSpec& t : specs) host.push_back(Tensor::empty(t.shape, dtype_, Device::cpu()));
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    source_.load_into(specs[i], dtype_, host[i].raw());
    s.host.emplace_back(specs[i].role, std::move(host[i]));
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
